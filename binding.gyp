{
  # node-gyp build of the same addon as CMakeLists.txt (keep the source lists in sync).
  # CI uses cmake-js, which never downloads headers; node-gyp may try to, so it is not run there.
  "targets": [
    {
      "target_name": "nsm_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/fds.cc",
        "native/src/icmp.cc",
        "native/src/fdsock.cc",
        "native/src/js_error.cc",
        "native/src/links.cc",
        "native/src/memif_forward.cc",
        "native/src/memif_handshake.cc",
        "native/src/memif_napi.cc",
        "native/src/memif_napi_fwd.cc",
        "native/src/memif_port.cc",
        "native/src/memif_port_io.cc",
        "native/src/memif_ring.cc",
        "native/src/memif_shm.cc",
        "native/src/memif_sock.cc",
        "native/src/netlink.cc",
        "native/src/netns.cc",
        "native/src/nl_exec.cc",
        "native/src/nl_watch.cc",
        "native/src/sys_error.cc",
        "native/src/vpp_stats.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "_GNU_SOURCE"
      ],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions"]
    }
  ]
}
