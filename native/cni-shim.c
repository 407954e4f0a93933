// brindle-ipam as the container runtime runs it (/opt/cni/bin/brindle-ipam): a small native front for
// the Node plugin (bin/brindle-ipam → src/cni/main.ts), so a pod's ADD does not pay for starting Node.
// It reads the network config on stdin and the CNI_* environment, hands both in one request to the
// node's running daemon on its control socket (POST /api/v1/cni, src/api/ipam-api.ts), and writes the
// daemon's answer — the output of the same TypeScript plugin logic, run in the daemon — to stdout and
// stderr, exiting with the code the daemon says. This file allocates nothing and formats no CNI result.
//
// The socket is the Node plugin's (src/cni/main.ts socketOf): ipam `socket`, else $BRINDLE_API_SOCKET,
// else /run/brindle/brindle.sock; ipam `config` without `socket` means "always the datastore".
//
// Anything else runs the Node plugin, with the same environment and the original stdin bytes (piped),
// which then does what it always did — ask the daemon, or use the datastore directly:
//   no daemon      no socket, refused, not ours: nothing was sent, nothing was done
//   lost           the connection closed before a whole answer (the daemon died mid-call): it may have
//                  committed or not; ADD is idempotent by handle (`<network>.<containerID>`, Calico's
//                  convention), so the Node plugin's retry returns what was committed or allocates once
//   no answer      nothing within REPLY_TIMEOUT_MS: the Node plugin asks the daemon again, which runs
//                  requests for one handle one after another, so the retry waits for the first and
//                  answers the same addresses (or gives CNI error 11 when that times out too)
//   not served     any status but 200 (a reflector, an older daemon): the daemon ran nothing
//   unsure         a network config this scanner does not follow: the Node plugin reports its errors
// Every wait is bounded: the connect does not block (a unix socket connects at once or fails), and
// the request and the answer share one deadline.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_SOCKET "/run/brindle/brindle.sock"
#define ENDPOINT "/api/v1/cni"
// The Node plugin, relative to this executable's real directory (build/Release in the package tree).
#define NODE_PLUGIN "/../../bin/brindle-ipam"
// The daemon reads request bodies of at most 64 KiB (src/api/http.ts); larger configs go to Node.
#define MAX_STDIN_FOR_DAEMON (56 * 1024)
#define MAX_REPLY (1024 * 1024)
// Longer than an allocation that claims a block on a busy etcd; the Node plugin's own bound is 30 s.
#define REPLY_TIMEOUT_MS 10000
// A pipe can hold this much, so the stdin bytes go into it before the exec with no writer process.
#define PIPE_SIZE (1024 * 1024)
#define MAX_JSON_DEPTH 64

struct buf {
  char *data;
  size_t len, cap;
};

static void *grow(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return b->data + b->len;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) {
    perror("brindle-ipam: out of memory");
    exit(1);
  }
  b->data = data;
  b->cap = cap;
  return b->data + b->len;
}

static void append(struct buf *b, const char *bytes, size_t n) {
  memcpy(grow(b, n), bytes, n);
  b->len += n;
}

static void appends(struct buf *b, const char *text) { append(b, text, strlen(text)); }

static void read_all(int fd, struct buf *b) {
  for (;;) {
    ssize_t n = read(fd, grow(b, 65536), 65536);
    if (n > 0) b->len += (size_t)n;
    else if (n == 0 || errno != EINTR) return;
  }
}

// ---------------------------------------------------------------------------------------------------
// The Node plugin: exec'd with this process's environment and the stdin bytes already read.

static const char *cni_version = "1.0.0";

// Only when Node cannot be started at all: a CNI error result (spec "Error"), code 999 as the Node
// plugin gives for an unexpected failure.
static void fail(const char *what, int error) {
  printf("{\"cniVersion\":\"%s\",\"code\":999,\"msg\":\"brindle-ipam: %s: %s\",\"details\":\"\"}\n",
         cni_version, what, strerror(error));
  fprintf(stderr, "brindle-ipam: %s: %s\n", what, strerror(error));
  exit(1);
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= (size_t)n;
  }
}

// Makes `input` the read end of a pipe on fd 0; a writer process feeds what does not fit.
static void pipe_stdin(const struct buf *input) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) fail("pipe", errno);
  int size = fcntl(fds[1], F_GETPIPE_SZ);
  if (size >= 0 && (size_t)size < input->len) size = fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE);
  if (size < 0 || (size_t)size < input->len) {
    pid_t writer = fork();
    if (writer < 0) fail("fork", errno);
    if (writer == 0) {
      close(fds[0]);
      write_all(fds[1], input->data, input->len);
      _exit(0);
    }
  } else {
    write_all(fds[1], input->data, input->len);
  }
  close(fds[1]);
  if (dup2(fds[0], 0) < 0) fail("dup2", errno);
  close(fds[0]);
}

static void run_node_plugin(const struct buf *input) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - sizeof(NODE_PLUGIN));
  if (n <= 0) fail("readlink /proc/self/exe", errno);
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  strcat(self, NODE_PLUGIN);
  // A copy of this program elsewhere (not a symlink) cannot find the Node plugin: say so.
  if (access(self, R_OK) != 0) fail("no Node plugin next to this program (link it, do not copy it)", errno);
  pipe_stdin(input);
  fflush(stderr);
  char *argv[] = {"node", self, NULL};
  execvp("node", argv);
  fail("cannot run node", errno);
}

// ---------------------------------------------------------------------------------------------------
// The network config: only what picks the socket (ipam.socket, ipam.config) and the cniVersion

struct scan {
  const char *p, *end;
};

struct netconf {
  bool parsed;
  // A member of ipam present as a non-empty string, or present as something else (`bad`).
  char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
  bool has_socket, has_config, bad;
  char version[16];
};

static void skip_ws(struct scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool take(struct scan *s, char c) {
  skip_ws(s);
  if (s->p >= s->end || *s->p != c) return false;
  s->p++;
  return true;
}

// A JSON string into out (NUL-terminated, at most cap - 1 bytes); false when malformed, too long or
// escaped beyond ASCII (the Node plugin then decides). out NULL: skip it.
static bool string(struct scan *s, char *out, size_t cap) {
  if (!take(s, '"')) return false;
  size_t len = 0;
  while (s->p < s->end && *s->p != '"') {
    char c = *s->p++;
    if ((unsigned char)c < 0x20) return false;
    if (c == '\\') {
      if (s->p >= s->end) return false;
      c = *s->p++;
      const char *simple = c ? strchr("\"\\/bfnrt", c) : NULL;
      if (c == 'u') {
        unsigned value;
        if (s->end - s->p < 4 || sscanf(s->p, "%4x", &value) != 1) return false;
        s->p += 4;
        if (out && (value == 0 || value > 0x7f)) return false;
        c = (char)value;
      } else if (!simple) {
        return false;
      } else {
        c = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
      }
    }
    if (out) {
      if (len + 1 >= cap) return false;
      out[len++] = c;
    }
  }
  if (out) out[len] = '\0';
  return take(s, '"');
}

static bool value(struct scan *s, int depth);

// Calls member(key) for each member of an object; member consumes the value.
static bool members(struct scan *s, int depth, bool (*member)(struct scan *, const char *, void *),
                    void *context) {
  if (depth > MAX_JSON_DEPTH || !take(s, '{')) return false;
  if (take(s, '}')) return true;
  do {
    char key[32];
    struct scan at = *s;
    if (!string(s, key, sizeof(key))) {
      // A key too long to be one we look for: skip it.
      *s = at;
      if (!string(s, NULL, 0)) return false;
      key[0] = '\0';
    }
    if (!take(s, ':') || !member(s, key, context)) return false;
  } while (take(s, ','));
  return take(s, '}');
}

static bool skip_member(struct scan *s, const char *key, void *context) {
  (void)key;
  return value(s, *(int *)context);
}

static bool value(struct scan *s, int depth) {
  skip_ws(s);
  if (s->p >= s->end || depth > MAX_JSON_DEPTH) return false;
  if (*s->p == '"') return string(s, NULL, 0);
  if (*s->p == '{') {
    int inner = depth + 1;
    return members(s, depth, skip_member, &inner);
  }
  if (*s->p == '[') {
    s->p++;
    if (take(s, ']')) return true;
    do {
      if (!value(s, depth + 1)) return false;
    } while (take(s, ','));
    return take(s, ']');
  }
  const char *start = s->p;
  while (s->p < s->end && strchr("+-.0123456789eEtrufalsn", *s->p)) s->p++;
  return s->p > start;
}

// A member of ipam that is a string when present; "" counts as absent (the Node plugin's reading).
static bool optional_string(struct scan *s, char *out, size_t cap, bool *present, bool *bad) {
  skip_ws(s);
  if (s->p < s->end && *s->p == '"') {
    if (!string(s, out, cap)) return false;
    *present = out[0] != '\0';
    return true;
  }
  *present = false;
  *bad = true;
  return value(s, 2);
}

static bool ipam_member(struct scan *s, const char *key, void *context) {
  struct netconf *conf = context;
  char ignored[PATH_MAX];
  if (strcmp(key, "socket") == 0)
    return optional_string(s, conf->socket, sizeof(conf->socket), &conf->has_socket, &conf->bad);
  if (strcmp(key, "config") == 0)
    return optional_string(s, ignored, sizeof(ignored), &conf->has_config, &conf->bad);
  return value(s, 2);
}

static bool top_member(struct scan *s, const char *key, void *context) {
  struct netconf *conf = context;
  if (strcmp(key, "ipam") == 0) {
    // The last "ipam" wins, as with JSON.parse.
    conf->has_socket = conf->has_config = conf->bad = false;
    skip_ws(s);
    if (s->p < s->end && *s->p != '{') conf->bad = true;
    return conf->bad ? value(s, 1) : members(s, 1, ipam_member, conf);
  }
  if (strcmp(key, "cniVersion") == 0) {
    struct scan at = *s;
    if (string(s, conf->version, sizeof(conf->version)) &&
        strspn(conf->version, "0123456789.") == strlen(conf->version))
      return true;
    *s = at;
    conf->version[0] = '\0';
  }
  return value(s, 1);
}

static struct netconf parse_netconf(const struct buf *input) {
  struct netconf conf = {0};
  struct scan s = {input->data, input->data + input->len};
  conf.parsed = members(&s, 0, top_member, &conf);
  skip_ws(&s);
  conf.parsed = conf.parsed && s.p == s.end;
  return conf;
}

// ---------------------------------------------------------------------------------------------------
// The daemon: one HTTP/1.1 request on its control socket, one answer

static void json_string(struct buf *b, const char *text, size_t len) {
  append(b, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    char escaped[8];
    if (c == '"' || c == '\\') {
      escaped[0] = '\\';
      escaped[1] = (char)c;
      append(b, escaped, 2);
    } else if (c == '\n' || c == '\t' || c == '\r') {
      escaped[0] = '\\';
      escaped[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
      append(b, escaped, 2);
    } else if (c < 0x20) {
      snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      append(b, escaped, 6);
    } else {
      append(b, (const char *)&c, 1);
    }
  }
  append(b, "\"", 1);
}

// {"env": {every CNI_* variable}, "stdin": the network config}, as the request's body.
static void request_body(struct buf *body, const struct buf *input) {
  appends(body, "{\"env\":{");
  bool first = true;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (strncmp(*e, "CNI_", 4) != 0 || !eq) continue;
    if (!first) appends(body, ",");
    first = false;
    json_string(body, *e, (size_t)(eq - *e));
    appends(body, ":");
    json_string(body, eq + 1, strlen(eq + 1));
  }
  appends(body, "},\"stdin\":");
  json_string(body, input->data, input->len);
  appends(body, "}");
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
static bool ready(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return false;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, (int)left);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// A connected, non-blocking socket, or -1 when nobody is there (nothing was sent).
static int connect_daemon(const char *path) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0) return fd;
  close(fd);
  return -1;
}

static bool send_all(int fd, const struct buf *b, long long deadline) {
  size_t sent = 0;
  while (sent < b->len) {
    if (!ready(fd, POLLOUT, deadline)) return false;
    ssize_t n = send(fd, b->data + sent, b->len - sent, MSG_NOSIGNAL);
    if (n > 0) sent += (size_t)n;
    else if (n < 0 && errno != EINTR && errno != EAGAIN) return false;
  }
  return true;
}

// The value of header `name` in the head (before the blank line), or -1.
static long header(const char *head, const char *name) {
  size_t len = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, name, len) == 0 && line[2 + len] == ':') {
      char *end;
      long value = strtol(line + 3 + len, &end, 10);
      return end == line + 3 + len || value < 0 ? -1 : value;
    }
  }
  return -1;
}

struct answer {
  struct buf raw;
  // Where the body starts in raw (0 until the head is whole).
  size_t body;
  long length, stdout_length, exit_code;
};

// Reads the answer until it is whole; false when it is not (lost, timed out, or not a plugin run).
static bool receive(int fd, struct answer *a, long long deadline) {
  while (a->raw.len < MAX_REPLY) {
    if (a->body && a->raw.len >= a->body + (size_t)a->length) return true;
    if (!ready(fd, POLLIN, deadline)) return false;
    ssize_t n = recv(fd, grow(&a->raw, 65536 + 1), 65536, 0);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    a->raw.len += (size_t)n;
    a->raw.data[a->raw.len] = '\0';
    if (a->body) continue;
    char *head_end = strstr(a->raw.data, "\r\n\r\n");
    if (!head_end) continue;
    *head_end = '\0';
    if (strncmp(a->raw.data, "HTTP/1.1 200 ", 13) != 0) return false;
    a->body = (size_t)(head_end + 4 - a->raw.data);
    a->length = header(a->raw.data, "content-length");
    a->stdout_length = header(a->raw.data, "brindle-cni-stdout-length");
    a->exit_code = header(a->raw.data, "brindle-cni-exit-code");
    if (a->length < 0 || a->stdout_length < 0 || a->stdout_length > a->length || a->exit_code < 0 ||
        a->exit_code > 255)
      return false;
  }
  return false;
}

// The daemon's answer, written out; returns the exit code, or -1 when the Node plugin must run.
static int ask_daemon(const char *path, const struct buf *input) {
  int fd = connect_daemon(path);
  if (fd < 0) return -1;
  struct buf body = {0}, request = {0};
  request_body(&body, input);
  char head[256];
  snprintf(head, sizeof(head),
           "POST " ENDPOINT " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n",
           body.len);
  appends(&request, head);
  append(&request, body.data, body.len);
  long long deadline = now_ms() + REPLY_TIMEOUT_MS;
  struct answer a = {0};
  bool whole = send_all(fd, &request, deadline) && receive(fd, &a, deadline);
  close(fd);
  if (!whole) {
    fprintf(stderr, "brindle-ipam: the daemon on %s did not answer the plugin call; running the Node plugin\n",
            path);
    return -1;
  }
  const char *out = a.raw.data + a.body;
  write_all(1, out, (size_t)a.stdout_length);
  write_all(2, out + a.stdout_length, (size_t)(a.length - a.stdout_length));
  return (int)a.exit_code;
}

// The daemon's socket, as src/cni/main.ts socketOf picks it; NULL: the Node plugin decides.
static const char *socket_of(const struct netconf *conf) {
  if (!conf->parsed || conf->bad) return NULL;
  if (conf->has_socket) return conf->socket;
  if (conf->has_config) return NULL;
  const char *env = getenv("BRINDLE_API_SOCKET");
  if (env && env[0]) return strlen(env) < sizeof(conf->socket) ? env : NULL;
  return DEFAULT_SOCKET;
}

int main(void) {
  struct buf input = {0};
  struct netconf conf = {0};
  read_all(0, &input);
  grow(&input, 1);
  if (input.len <= MAX_STDIN_FOR_DAEMON) {
    conf = parse_netconf(&input);
    if (conf.version[0]) cni_version = conf.version;
    const char *path = socket_of(&conf);
    if (path) {
      int code = ask_daemon(path, &input);
      if (code >= 0) return code;
    }
  }
  run_node_plugin(&input);
  return 1;
}
