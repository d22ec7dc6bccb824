{
  "targets": [
    {
      "target_name": "run_exp_graph",
      "sources": ["graph.cc"],
      "cflags_cc": ["-O2", "-std=c++17"],
      "cflags_cc!": ["-std=gnu++14", "-std=gnu++17"],
      "libraries": ["-ldl"]
    }
  ]
}
