// Brindle's only native code: the few syscalls Node does not expose. rtnetlink sockets (open, send,
// non-blocking receive, readiness watch on the libuv loop) and TCP socket options (RFC 2385 MD5,
// RFC 5082 GTSM, SO_BINDTODEVICE) on a socket created here before libuv connects it, and a UDP
// socket whose datagrams arrive with their TTL (BFD, RFC 5881 §5), and glibc's malloc_trim. Every
// message and struct is built in TypeScript (src/lib/native.ts); this file only passes bytes and integers.
#define NAPI_VERSION 8
#include <errno.h>
#include <stdbool.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

// Names for error messages, e.g. "setsockopt(IPPROTO_TCP, TCP_MD5SIG): EINVAL"; numbers otherwise.
static const struct { int level, name; const char *text; } kOptionNames[] = {
    {SOL_SOCKET, -1, "SOL_SOCKET"}, {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"},
    {SOL_SOCKET, SO_RCVBUFFORCE, "SO_RCVBUFFORCE"}, {SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE"},
    {IPPROTO_IP, -1, "IPPROTO_IP"}, {IPPROTO_IP, IP_TTL, "IP_TTL"}, {IPPROTO_IP, IP_MINTTL, "IP_MINTTL"},
    {IPPROTO_IPV6, -1, "IPPROTO_IPV6"}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
    {IPPROTO_IPV6, IPV6_MINHOPCOUNT, "IPV6_MINHOPCOUNT"}, {IPPROTO_TCP, -1, "IPPROTO_TCP"},
    {IPPROTO_TCP, TCP_MD5SIG, "TCP_MD5SIG"}, {IPPROTO_TCP, TCP_MD5SIG_EXT, "TCP_MD5SIG_EXT"},
    {SOL_NETLINK, -1, "SOL_NETLINK"}, {SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, "NETLINK_ADD_MEMBERSHIP"},
    {SOL_NETLINK, NETLINK_EXT_ACK, "NETLINK_EXT_ACK"},
    {SOL_NETLINK, NETLINK_GET_STRICT_CHK, "NETLINK_GET_STRICT_CHK"},
};

static void option_text(char *out, size_t size, int level, int name) {
  const char *l = NULL, *n = NULL;
  for (size_t i = 0; i < sizeof(kOptionNames) / sizeof(kOptionNames[0]); i++) {
    if (kOptionNames[i].level != level) continue;
    if (kOptionNames[i].name == -1) l = kOptionNames[i].text;
    else if (kOptionNames[i].name == name) n = kOptionNames[i].text;
  }
  char lb[12], nb[12];
  snprintf(lb, sizeof lb, "%d", level);
  snprintf(nb, sizeof nb, "%d", name);
  snprintf(out, size, "%s, %s", l ? l : lb, n ? n : nb);
}

// Throws Error("syscall(detail): ENAME") with .code = "ENAME", .errno = -err (as Node's own errors do).
static napi_value throw_errno(napi_env env, const char *syscall, const char *detail, int err) {
  char message[160], name[64];
  uv_err_name_r(uv_translate_sys_error(err), name, sizeof name);
  snprintf(message, sizeof message, "%s(%s): %s", syscall, detail, name);
  napi_value code, text, error, number;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) != napi_ok ||
      napi_create_error(env, code, text, &error) != napi_ok ||
      napi_create_int32(env, -err, &number) != napi_ok ||
      napi_set_named_property(env, error, "errno", number) != napi_ok)
    return NULL;  // an exception is already pending
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

// Argument helpers: each throws a TypeError and returns false on a bad argument.
static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc >= want) return true;
  throw_type(env, "brindle_native: too few arguments");
  return false;
}

static bool arg_int(napi_env env, napi_value value, int32_t *out) {
  if (napi_get_value_int32(env, value, out) == napi_ok) return true;
  throw_type(env, "brindle_native: expected a number");
  return false;
}

static bool arg_buffer(napi_env env, napi_value value, void **data, size_t *length) {
  if (napi_get_buffer_info(env, value, data, length) == napi_ok) return true;
  throw_type(env, "brindle_native: expected a Buffer");
  return false;
}

static napi_value int_result(napi_env env, int64_t value) {
  napi_value result;
  return napi_create_int64(env, value, &result) == napi_ok ? result : NULL;
}

#define ARGS(n)      \
  napi_value argv[n]; \
  if (!get_args(env, info, n, argv)) return NULL
#define INT_ARG(var, i) \
  int32_t var;          \
  if (!arg_int(env, argv[i], &var)) return NULL
#define BUFFER_ARG(data, length, i) \
  void *data;                       \
  size_t length;                    \
  if (!arg_buffer(env, argv[i], &data, &length)) return NULL

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

// Returns fd as a JS number, closing it if even that fails so no path leaks the descriptor.
static napi_value fd_result(napi_env env, int fd) {
  napi_value result = int_result(env, fd);
  if (!result) close(fd);
  return result;
}

// nlOpen(protocol, groups, rcvbufBytes) → fd. SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF is the
// capped fallback. Strict checking lets the kernel filter dumps (e.g. by table) instead of us.
static napi_value NlOpen(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT_ARG(protocol, 0);
  INT_ARG(groups, 1);
  INT_ARG(rcvbuf, 2);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", "AF_NETLINK", errno);
  int level = SOL_SOCKET, name = SO_RCVBUFFORCE;
  bool ok = rcvbuf <= 0 || set_int(fd, level, name, rcvbuf) == 0 ||
            (errno == EPERM && set_int(fd, level, name = SO_RCVBUF, rcvbuf) == 0);
  ok = ok && set_int(fd, level = SOL_NETLINK, name = NETLINK_EXT_ACK, 1) == 0;
  ok = ok && set_int(fd, level, name = NETLINK_GET_STRICT_CHK, 1) == 0;
  struct sockaddr_nl local = {.nl_family = AF_NETLINK, .nl_groups = (uint32_t)groups};
  if (ok && bind(fd, (struct sockaddr *)&local, sizeof local) == 0) return fd_result(env, fd);
  int err = errno;
  char detail[64] = "AF_NETLINK";
  if (!ok) option_text(detail, sizeof detail, level, name);
  close(fd);
  return throw_errno(env, ok ? "bind" : "setsockopt", detail, err);
}

// nlSend(fd, buffer) → bytes sent, to the kernel (port id 0). One datagram; it may hold many messages.
static napi_value NlSend(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(fd, 0);
  BUFFER_ARG(data, length, 1);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do sent = sendto(fd, data, length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (sent < 0 && errno == EINTR);
  return sent < 0 ? throw_errno(env, "sendto", "AF_NETLINK", errno) : int_result(env, sent);
}

// recv(fd, buffer) → length of one datagram, or -errno (-EAGAIN when empty, -ENOBUFS after an
// overrun, -EMSGSIZE when the datagram did not fit and was dropped). Datagrams that did not come
// from the kernel (port id != 0) are dropped: any local process may unicast to our port id.
static napi_value Recv(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(fd, 0);
  BUFFER_ARG(data, length, 1);
  for (;;) {
    struct sockaddr_nl from = {0};
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, data, length, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return int_result(env, -errno);
    if (fromlen >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) continue;
    return int_result(env, (size_t)n > length ? -EMSGSIZE : n);
  }
}

// watch(fd, callback) → handle. callback(status) runs on the JS thread when fd is readable; status is
// 0, or a negative errno after which libuv has stopped the watch. Like Node's own handles, an active
// watch stays alive until unwatch(), whether or not the handle object is kept. The struct is freed
// once it is both closed and unreachable from JS.
typedef struct {
  uv_poll_t poll;  // first, so a uv_handle_t* is a watch_t*
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  enum { ACTIVE, CLOSING, CLOSED } state;
  bool finalized;
} watch_t;

static void on_closed(uv_handle_t *handle) {
  watch_t *w = (watch_t *)handle;
  w->state = CLOSED;
  if (w->finalized) free(w);
}

static void release_watch(watch_t *w) {
  uv_poll_stop(&w->poll);
  napi_async_destroy(w->env, w->context);
  napi_delete_reference(w->env, w->callback);
  w->state = CLOSING;
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void finalize_watch(napi_env env, void *data, void *hint) {
  watch_t *w = data;
  w->finalized = true;
  if (w->state == CLOSED) free(w);
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  watch_t *w = (watch_t *)poll;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_value callback, self, arg, result, exception;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, w->callback, &callback) == napi_ok &&
      napi_get_global(env, &self) == napi_ok && napi_create_int32(env, status, &arg) == napi_ok &&
      napi_make_callback(env, w->context, self, callback, 1, &arg, &result) == napi_pending_exception &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok)
    napi_fatal_exception(env, exception);  // → process 'uncaughtException', as for any callback
  napi_close_handle_scope(env, scope);
}

static napi_value Watch(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(fd, 0);
  napi_valuetype type;
  uv_loop_t *loop;
  napi_value name, resource, handle;
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return throw_type(env, "brindle_native: expected a function");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok ||
      napi_create_string_utf8(env, "brindle:watch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok)
    return NULL;
  watch_t *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", "watch", ENOMEM);
  w->env = env;
  int err = 0;
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) goto free_watch;
  if (napi_async_init(env, resource, name, &w->context) != napi_ok) goto delete_reference;
  if ((err = uv_poll_init(loop, &w->poll, fd)) < 0) goto destroy_context;  // leaves nothing to close
  w->finalized = true;  // the close callback frees w until a JS handle owns it too
  if ((err = uv_poll_start(&w->poll, UV_READABLE, on_poll)) < 0 ||
      napi_create_external(env, w, finalize_watch, NULL, &handle) != napi_ok) {
    release_watch(w);
    return err < 0 ? throw_errno(env, "uv_poll_start", "watch", -err) : NULL;
  }
  w->finalized = false;
  return handle;
destroy_context:
  napi_async_destroy(env, w->context);
delete_reference:
  napi_delete_reference(env, w->callback);
free_watch:
  free(w);
  return err < 0 ? throw_errno(env, "uv_poll_init", "watch", -err) : NULL;
}

static napi_value Unwatch(napi_env env, napi_callback_info info) {
  ARGS(1);
  watch_t *w;
  if (napi_get_value_external(env, argv[0], (void **)&w) != napi_ok)
    return throw_type(env, "brindle_native: expected a watch handle");
  if (w->state == ACTIVE) release_watch(w);  // idempotent
  return NULL;
}

// close(fd). Linux releases the descriptor even when close() reports EINTR, so it is never retried.
static napi_value Close(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT_ARG(fd, 0);
  char detail[16];
  snprintf(detail, sizeof detail, "%d", fd);
  return close(fd) < 0 && errno != EINTR ? throw_errno(env, "close", detail, errno) : NULL;
}

// A non-blocking, close-on-exec AF_INET / AF_INET6 socket of `type` for family argument 4 or 6.
static napi_value inet_socket(napi_env env, napi_callback_info info, int type, const char *what) {
  ARGS(1);
  INT_ARG(family, 0);
  if (family != 4 && family != 6) {
    char message[64];
    snprintf(message, sizeof message, "%s: family must be 4 or 6", what);
    napi_throw_range_error(env, NULL, message);
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", family == 4 ? "AF_INET" : "AF_INET6", errno);
  return fd_result(env, fd);
}

// tcpSocket(4 | 6) → a non-blocking, close-on-exec TCP socket for options to be set before connect.
static napi_value TcpSocket(napi_env env, napi_callback_info info) {
  return inet_socket(env, info, SOCK_STREAM, "tcpSocket");
}

// bind(fd, sockaddr) with a sockaddr_in / sockaddr_in6 built in TypeScript.
static napi_value Bind(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT_ARG(fd, 0);
  BUFFER_ARG(data, length, 1);
  char detail[16];
  snprintf(detail, sizeof detail, "%d", fd);
  return bind(fd, data, length) < 0 ? throw_errno(env, "bind", detail, errno) : NULL;
}

// setsockoptInt(fd, level, name, value), setsockoptBuffer(fd, level, name, buffer),
// getsockoptInt(fd, level, name) → value.
static napi_value Sockopt(napi_env env, napi_callback_info info, int mode) {
  napi_value argv[4];
  if (!get_args(env, info, mode == 2 ? 3 : 4, argv)) return NULL;
  INT_ARG(fd, 0);
  INT_ARG(level, 1);
  INT_ARG(name, 2);
  int32_t value = 0;
  void *data = &value;
  size_t length = sizeof value;
  socklen_t got = sizeof value;
  if (mode == 0 && !arg_int(env, argv[3], &value)) return NULL;
  if (mode == 1 && !arg_buffer(env, argv[3], &data, &length)) return NULL;
  int rc = mode == 2 ? getsockopt(fd, level, name, &value, &got) : setsockopt(fd, level, name, data, length);
  if (rc == 0) return mode == 2 ? int_result(env, value) : NULL;
  int err = errno;
  char detail[64];
  option_text(detail, sizeof detail, level, name);
  return throw_errno(env, mode == 2 ? "getsockopt" : "setsockopt", detail, err);
}
static napi_value SetsockoptInt(napi_env env, napi_callback_info info) { return Sockopt(env, info, 0); }
static napi_value SetsockoptBuffer(napi_env env, napi_callback_info info) { return Sockopt(env, info, 1); }
static napi_value GetsockoptInt(napi_env env, napi_callback_info info) { return Sockopt(env, info, 2); }

// udpSocket(4 | 6) → a non-blocking, close-on-exec UDP socket: BFD (RFC 5881) needs each datagram's
// received TTL, which Node's dgram cannot report (libuv reads without ancillary data).
static napi_value UdpSocket(napi_env env, napi_callback_info info) {
  return inet_socket(env, info, SOCK_DGRAM, "udpSocket");
}

// The TTL or Hop Limit from IP_RECVTTL / IPV6_RECVHOPLIMIT ancillary data, or -1 when absent.
static int received_ttl(struct msghdr *msg) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL;
    bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT;
    if (!v4 && !v6) continue;
    int ttl;
    memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    return ttl;
  }
  return -1;
}

// recvTtl(fd, buffer, meta) → length of one datagram or -errno (-EAGAIN when empty, -EMSGSIZE when
// truncated). meta (at least 32 bytes) receives the source sockaddr at 0 and the TTL (int32, -1
// unknown) at 28; the socket needs IP_RECVTTL or IPV6_RECVHOPLIMIT on.
static napi_value RecvTtl(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT_ARG(fd, 0);
  BUFFER_ARG(data, length, 1);
  BUFFER_ARG(meta, metaLength, 2);
  if (metaLength < 32) return throw_type(env, "recvTtl: meta must hold 32 bytes");
  struct sockaddr_in6 from = {0};
  char control[64];
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return int_result(env, -errno);
  memset(meta, 0, 32);
  memcpy(meta, &from, msg.msg_namelen < 28 ? msg.msg_namelen : 28);
  int32_t ttl = received_ttl(&msg);
  memcpy((char *)meta + 28, &ttl, sizeof ttl);
  return int_result(env, (msg.msg_flags & MSG_TRUNC) ? -EMSGSIZE : n);
}

// sendTo(fd, buffer, sockaddr) → bytes sent, or -errno (-EAGAIN when the socket buffer is full).
static napi_value SendTo(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT_ARG(fd, 0);
  BUFFER_ARG(data, length, 1);
  BUFFER_ARG(to, toLength, 2);
  ssize_t sent;
  do sent = sendto(fd, data, length, MSG_DONTWAIT, to, toLength);
  while (sent < 0 && errno == EINTR);
  return int_result(env, sent < 0 ? -errno : sent);
}

// mallocTrim() → true when memory went back to the kernel, false when there was none to give;
// undefined where the C library is not glibc. By itself glibc returns only the free top of the main
// arena (M_TRIM_THRESHOLD); free pages between live chunks stay resident. malloc_trim(0) walks every
// arena and madvise(MADV_DONTNEED)s each whole free page (glibc >= 2.8): it takes the arenas' locks,
// so it runs only when the daemon is quiet (src/daemon/memory-trim.ts has the measured cost).
static napi_value MallocTrim(napi_env env, napi_callback_info info) {
#ifdef __GLIBC__
  napi_value result;
  return napi_get_boolean(env, malloc_trim(0) == 1, &result) == napi_ok ? result : NULL;
#else
  return NULL;
#endif
}

#define FUNCTION(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      FUNCTION("nlOpen", NlOpen),       FUNCTION("nlSend", NlSend),
      FUNCTION("recv", Recv),           FUNCTION("watch", Watch),
      FUNCTION("unwatch", Unwatch),     FUNCTION("close", Close),
      FUNCTION("tcpSocket", TcpSocket), FUNCTION("bind", Bind),
      FUNCTION("setsockoptInt", SetsockoptInt), FUNCTION("setsockoptBuffer", SetsockoptBuffer),
      FUNCTION("getsockoptInt", GetsockoptInt),
      FUNCTION("udpSocket", UdpSocket), FUNCTION("recvTtl", RecvTtl), FUNCTION("sendTo", SendTo),
      FUNCTION("mallocTrim", MallocTrim),
  };
  size_t count = sizeof functions / sizeof functions[0];
  return napi_define_properties(env, exports, count, functions) == napi_ok ? exports : NULL;
}
