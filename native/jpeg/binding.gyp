{
  "targets": [
    {
      "target_name": "run_exp_jpeg",
      "sources": ["jpeg.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "libraries": ["-ldl"]
    }
  ]
}
