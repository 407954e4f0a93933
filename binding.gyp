{
  "targets": [
    {
      "target_name": "brindle_native",
      "sources": ["native/brindle_native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]
    },
    {
      "target_name": "brindle-ipam",
      "type": "executable",
      "dependencies": ["brindle_native"],
      "sources": ["native/cni-shim.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
    }
  ]
}
