{
  "targets": [
    {
      "target_name": "brindle_native",
      "sources": ["native/brindle_native.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]
    }
  ]
}
