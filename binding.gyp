{
  "variables": {
    "deps": "libcurl liburcu-memb liburcu-cds ck zlib libbrotlidec libzstd",
    "sanitize%": "<!(node -p \"process.env.CURL_DISPATCHER_SANITIZE || ''\")"
  },
  "targets": [
    {
      "target_name": "curl_dispatcher",
      "sources": [
        "engine/cd_stats.c",
        "engine/cd_grow.c",
        "engine/cd_timer.c",
        "engine/cd_slist.c",
        "engine/cd_fault.c",
        "engine/cd_config.c",
        "engine/cd_request.c",
        "engine/cd_registry.c",
        "engine/cd_channel.c",
        "engine/cd_alpn.c",
        "engine/cd_conn.c",
        "engine/cd_pause.c",
        "engine/cd_limit.c",
        "engine/cd_pool.c",
        "engine/cd_share.c",
        "engine/cd_timings.c",
        "engine/cd_head.c",
        "engine/cd_errclass.c",
        "engine/cd_decode.c",
        "engine/cd_bodydec.c",
        "engine/cd_data.c",
        "engine/cd_options.c",
        "engine/cd_upwait.c",
        "engine/cd_transfer.c",
        "engine/cd_raw.c",
        "engine/cd_loop.c",
        "engine/cd_engine.c",
        "engine/cd_heap.c",
        "engine/cd_env.c",
        "engine/cd_submit.c",
        "engine/cd_hdr.c",
        "engine/cd_load.c",
        "engine/cd_loadctl.c",
        "napi/cd_args.c",
        "napi/cd_config_js.c",
        "napi/cd_constants.c",
        "napi/cd_events.c",
        "napi/cd_load_js.c",
        "napi/cd_module.c",
        "napi/cd_requests.c",
        "napi/cd_slots.c"
      ],
      "include_dirs": ["engine"],
      "cflags": ["<!@(pkg-config --cflags <(deps))"],
      "cflags_c": ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["<!@(pkg-config --libs <(deps))", "-lpthread"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["sanitize=='address'", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"],
          "ldflags": ["-fsanitize=address,undefined"]
        }],
        ["sanitize=='thread'", {
          "cflags": ["-fsanitize=thread", "-fno-omit-frame-pointer"],
          "ldflags": ["-fsanitize=thread"]
        }]
      ]
    }
  ]
}
