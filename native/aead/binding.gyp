{
  "targets": [
    {
      "target_name": "swarmlane_aead",
      "sources": ["aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      # The system's static libcrypto (libssl-dev), linked in with its symbols kept private (Node's
      # own OpenSSL, exported by the node binary, is built without assembly here).
      "libraries": ["-Wl,--exclude-libs,ALL", "-Wl,-Bsymbolic", "<!(gcc -print-file-name=libcrypto.a)"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
