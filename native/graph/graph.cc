// TensorFlow graph mode for run-exp's graph engine: build a graph op by op,
// add symbolic gradients (TF_AddGradients, the C++ gradient registry), and
// run training steps as one session call, so that TensorFlow's graph
// optimizer (Grappler) can fuse and schedule the whole step.
//
// The TensorFlow C API is the one inside the libtensorflow tfjs-node loads; its
// functions are looked up with dlsym (the C ABI below is stable across TF 2.x),
// so the addon builds without TensorFlow's headers and a library without them
// leaves graph mode unavailable (eager training) instead of failing to load.
#include <dlfcn.h>
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// ---- the C API subset, as declared in tensorflow/c/c_api.h ----------------
struct TF_Status;
struct TF_Graph;
struct TF_OperationDescription;
struct TF_Operation;
struct TF_Tensor;
struct TF_Session;
struct TF_SessionOptions;
struct TF_Buffer {
  const void* data;
  size_t length;
  void (*data_deallocator)(void* data, size_t length);
};
struct TF_Output {
  TF_Operation* oper;
  int index;
};
struct TF_Input {
  TF_Operation* oper;
  int index;
};

#define TF_FUNCTIONS(X)                                                                                       \
  X(TF_Status*, TF_NewStatus, ())                                                                             \
  X(void, TF_DeleteStatus, (TF_Status*))                                                                      \
  X(int, TF_GetCode, (const TF_Status*))                                                                      \
  X(const char*, TF_Message, (const TF_Status*))                                                              \
  X(TF_Graph*, TF_NewGraph, ())                                                                               \
  X(void, TF_DeleteGraph, (TF_Graph*))                                                                        \
  X(TF_OperationDescription*, TF_NewOperation, (TF_Graph*, const char*, const char*))                         \
  X(void, TF_AddInput, (TF_OperationDescription*, TF_Output))                                                 \
  X(void, TF_AddInputList, (TF_OperationDescription*, const TF_Output*, int))                                 \
  X(void, TF_AddControlInput, (TF_OperationDescription*, TF_Operation*))                                      \
  X(void, TF_SetAttrType, (TF_OperationDescription*, const char*, int))                                       \
  X(void, TF_SetAttrInt, (TF_OperationDescription*, const char*, int64_t))                                    \
  X(void, TF_SetAttrIntList, (TF_OperationDescription*, const char*, const int64_t*, int))                    \
  X(void, TF_SetAttrFloat, (TF_OperationDescription*, const char*, float))                                    \
  X(void, TF_SetAttrBool, (TF_OperationDescription*, const char*, unsigned char))                             \
  X(void, TF_SetAttrString, (TF_OperationDescription*, const char*, const void*, size_t))                     \
  X(void, TF_SetAttrShape, (TF_OperationDescription*, const char*, const int64_t*, int))                      \
  X(void, TF_SetAttrTensor, (TF_OperationDescription*, const char*, TF_Tensor*, TF_Status*))                  \
  X(TF_Operation*, TF_FinishOperation, (TF_OperationDescription*, TF_Status*))                                \
  X(TF_Operation*, TF_GraphOperationByName, (TF_Graph*, const char*))                                         \
  X(const char*, TF_OperationName, (TF_Operation*))                                                           \
  X(const char*, TF_OperationOpType, (TF_Operation*))                                                         \
  X(TF_Operation*, TF_GraphNextOperation, (TF_Graph*, size_t*))                                               \
  X(TF_Output, TF_OperationInput, (TF_Input))                                                                 \
  X(int, TF_OperationOutputNumConsumers, (TF_Output))                                                         \
  X(int, TF_OperationOutputConsumers, (TF_Output, TF_Input*, int))                                            \
  X(void, TF_UpdateEdge, (TF_Graph*, TF_Output, TF_Input, TF_Status*))                                        \
  X(void, TF_AddGradients, (TF_Graph*, TF_Output*, int, TF_Output*, int, TF_Output*, TF_Status*, TF_Output*)) \
  X(TF_SessionOptions*, TF_NewSessionOptions, ())                                                             \
  X(void, TF_SetConfig, (TF_SessionOptions*, const void*, size_t, TF_Status*))                                \
  X(void, TF_DeleteSessionOptions, (TF_SessionOptions*))                                                      \
  X(TF_Session*, TF_NewSession, (TF_Graph*, const TF_SessionOptions*, TF_Status*))                            \
  X(void, TF_CloseSession, (TF_Session*, TF_Status*))                                                         \
  X(void, TF_DeleteSession, (TF_Session*, TF_Status*))                                                        \
  X(void, TF_SessionRun,                                                                                      \
    (TF_Session*, const TF_Buffer*, const TF_Output*, TF_Tensor* const*, int, const TF_Output*, TF_Tensor**,  \
     int, const TF_Operation* const*, int, TF_Buffer*, TF_Status*))                                           \
  X(TF_Buffer*, TF_NewBufferFromString, (const void*, size_t))                                                \
  X(TF_Buffer*, TF_NewBuffer, ())                                                                             \
  X(void, TF_DeleteBuffer, (TF_Buffer*))                                                                      \
  X(TF_Tensor*, TF_AllocateTensor, (int, const int64_t*, int, size_t))                                        \
  X(void*, TF_TensorData, (const TF_Tensor*))                                                                 \
  X(size_t, TF_TensorByteSize, (const TF_Tensor*))                                                            \
  X(int, TF_NumDims, (const TF_Tensor*))                                                                      \
  X(int64_t, TF_Dim, (const TF_Tensor*, int))                                                                 \
  X(int, TF_TensorType, (const TF_Tensor*))                                                                   \
  X(void, TF_DeleteTensor, (TF_Tensor*))

#define DECLARE(ret, name, args) ret(*name) args = nullptr;
TF_FUNCTIONS(DECLARE)
#undef DECLARE

bool loaded = false;

enum { TF_FLOAT = 1, TF_INT32 = 3, TF_UINT8 = 4, TF_INT64 = 9, TF_BOOL = 10 };

size_t dtype_size(int dtype) {
  switch (dtype) {
    case TF_FLOAT:
    case TF_INT32:
      return 4;
    case TF_UINT8:
    case TF_BOOL:
      return 1;
    case TF_INT64:
      return 8;
    default:
      return 0;
  }
}

// ---- N-API helpers ---------------------------------------------------------

#define CHECK(call)                                     \
  do {                                                  \
    if ((call) != napi_ok) {                            \
      napi_throw_error(env, nullptr, "graph: " #call);  \
      return nullptr;                                   \
    }                                                   \
  } while (0)

struct Graph {
  TF_Graph* graph;
  TF_Session* session = nullptr;
};

struct StatusGuard {
  TF_Status* s = TF_NewStatus();
  ~StatusGuard() { TF_DeleteStatus(s); }
  bool ok() const { return TF_GetCode(s) == 0; }
};

napi_value throw_status(napi_env env, const char* what, TF_Status* s) {
  std::string msg = std::string(what) + ": " + TF_Message(s);
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

std::string get_string(napi_env env, napi_value v) {
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

napi_value prop(napi_env env, napi_value obj, const char* key) {
  napi_value v = nullptr;
  napi_get_named_property(env, obj, key, &v);
  return v;
}

double get_number(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

std::vector<int64_t> get_ints(napi_env env, napi_value arr) {
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  std::vector<int64_t> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, arr, i, &v);
    out[i] = static_cast<int64_t>(get_number(env, v));
  }
  return out;
}

Graph* unwrap(napi_env env, napi_value v) {
  void* p = nullptr;
  napi_get_value_external(env, v, &p);
  return static_cast<Graph*>(p);
}

// An output is [operationName, index].
bool get_output(napi_env env, Graph* g, napi_value v, TF_Output* out) {
  napi_value name, index;
  napi_get_element(env, v, 0, &name);
  napi_get_element(env, v, 1, &index);
  out->oper = TF_GraphOperationByName(g->graph, get_string(env, name).c_str());
  out->index = static_cast<int>(get_number(env, index));
  return out->oper != nullptr;
}

// A tensor from JS: {dtype, shape, data: TypedArray}.
TF_Tensor* to_tensor(napi_env env, napi_value v) {
  int dtype = static_cast<int>(get_number(env, prop(env, v, "dtype")));
  std::vector<int64_t> shape = get_ints(env, prop(env, v, "shape"));
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  if (napi_get_typedarray_info(env, prop(env, v, "data"), &type, &length, &data, &ab, &offset) != napi_ok)
    return nullptr;
  size_t count = 1;
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  size_t bytes = count * dtype_size(dtype);
  TF_Tensor* t = TF_AllocateTensor(dtype, shape.data(), static_cast<int>(shape.size()), bytes);
  size_t elem = 0;
  switch (type) {
    case napi_float32_array:
    case napi_int32_array:
    case napi_uint32_array:
      elem = 4;
      break;
    case napi_uint8_array:
    case napi_int8_array:
      elem = 1;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
      elem = 8;
      break;
    default:
      elem = 0;
  }
  if (elem * length != bytes) {
    TF_DeleteTensor(t);
    return nullptr;
  }
  std::memcpy(TF_TensorData(t), data, bytes);
  return t;
}

napi_value from_tensor(napi_env env, TF_Tensor* t) {
  int dtype = TF_TensorType(t);
  size_t bytes = TF_TensorByteSize(t);
  napi_value ab, arr, shape, obj;
  void* data;
  napi_create_arraybuffer(env, bytes, &data, &ab);
  std::memcpy(data, TF_TensorData(t), bytes);
  napi_typedarray_type type = dtype == TF_FLOAT ? napi_float32_array
                              : dtype == TF_INT32 ? napi_int32_array
                              : dtype == TF_INT64 ? napi_bigint64_array
                                                  : napi_uint8_array;
  size_t size = dtype_size(dtype);
  napi_create_typedarray(env, type, size ? bytes / size : bytes, ab, 0, &arr);
  int n = TF_NumDims(t);
  napi_create_array_with_length(env, n, &shape);
  for (int i = 0; i < n; i++) {
    napi_value d;
    napi_create_double(env, static_cast<double>(TF_Dim(t, i)), &d);
    napi_set_element(env, shape, i, d);
  }
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "data", arr);
  napi_set_named_property(env, obj, "shape", shape);
  return obj;
}

// ---- exported functions ----------------------------------------------------

// open(libraryPath) -> null, or why graph mode is unavailable.
napi_value open_library(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  std::string why;
  void* lib = dlopen(get_string(env, argv[0]).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    why = dlerror();
  } else {
#define LOOKUP(ret, name, args)                                              \
  name = reinterpret_cast<ret(*) args>(dlsym(lib, #name));                   \
  if (!name && why.empty()) why = std::string("no ") + #name + " in libtensorflow";
    TF_FUNCTIONS(LOOKUP)
#undef LOOKUP
  }
  loaded = why.empty();
  if (loaded) {
    CHECK(napi_get_null(env, &result));
  } else {
    CHECK(napi_create_string_utf8(env, why.c_str(), why.size(), &result));
  }
  return result;
}

void finalize_graph(napi_env, void* data, void*) {
  Graph* g = static_cast<Graph*>(data);
  if (g->session) {
    StatusGuard s;
    TF_CloseSession(g->session, s.s);
    TF_DeleteSession(g->session, s.s);
  }
  TF_DeleteGraph(g->graph);
  delete g;
}

napi_value new_graph(napi_env env, napi_callback_info) {
  if (!loaded) {
    napi_throw_error(env, nullptr, "graph: open() has not found TensorFlow's C API");
    return nullptr;
  }
  Graph* g = new Graph{TF_NewGraph()};
  napi_value result;
  CHECK(napi_create_external(env, g, finalize_graph, nullptr, &result));
  return result;
}

// addOp(graph, type, name, inputs: (output | output[])[], attrs: {name: {kind, value}}, control: string[])
napi_value add_op(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Graph* g = unwrap(env, argv[0]);
  std::string type = get_string(env, argv[1]), name = get_string(env, argv[2]);
  TF_OperationDescription* d = TF_NewOperation(g->graph, type.c_str(), name.c_str());
  uint32_t n_inputs = 0;
  napi_get_array_length(env, argv[3], &n_inputs);
  for (uint32_t i = 0; i < n_inputs; i++) {
    napi_value in, first;
    napi_get_element(env, argv[3], i, &in);
    napi_get_element(env, in, 0, &first);
    napi_valuetype t;
    napi_typeof(env, first, &t);
    if (t == napi_string) {
      TF_Output o;
      if (!get_output(env, g, in, &o)) {
        napi_throw_error(env, nullptr, ("graph: " + name + ": unknown input " + get_string(env, first)).c_str());
        return nullptr;
      }
      TF_AddInput(d, o);
    } else {  // a list input
      uint32_t m = 0;
      napi_get_array_length(env, in, &m);
      std::vector<TF_Output> list(m);
      for (uint32_t k = 0; k < m; k++) {
        napi_value e;
        napi_get_element(env, in, k, &e);
        if (!get_output(env, g, e, &list[k])) {
          napi_throw_error(env, nullptr, ("graph: " + name + ": unknown input in a list").c_str());
          return nullptr;
        }
      }
      TF_AddInputList(d, list.data(), static_cast<int>(m));
    }
  }
  napi_value keys;
  uint32_t n_attrs = 0;
  napi_get_property_names(env, argv[4], &keys);
  napi_get_array_length(env, keys, &n_attrs);
  StatusGuard s;
  for (uint32_t i = 0; i < n_attrs; i++) {
    napi_value key, attr;
    napi_get_element(env, keys, i, &key);
    std::string attr_name = get_string(env, key);
    napi_get_property(env, argv[4], key, &attr);
    std::string kind = get_string(env, prop(env, attr, "kind"));
    napi_value value = prop(env, attr, "value");
    const char* an = attr_name.c_str();
    if (kind == "type") {
      TF_SetAttrType(d, an, static_cast<int>(get_number(env, value)));
    } else if (kind == "int") {
      TF_SetAttrInt(d, an, static_cast<int64_t>(get_number(env, value)));
    } else if (kind == "ints") {
      std::vector<int64_t> v = get_ints(env, value);
      TF_SetAttrIntList(d, an, v.data(), static_cast<int>(v.size()));
    } else if (kind == "float") {
      TF_SetAttrFloat(d, an, static_cast<float>(get_number(env, value)));
    } else if (kind == "bool") {
      bool b = false;
      napi_get_value_bool(env, value, &b);
      TF_SetAttrBool(d, an, b ? 1 : 0);
    } else if (kind == "string") {
      std::string v = get_string(env, value);
      TF_SetAttrString(d, an, v.data(), v.size());
    } else if (kind == "shape") {
      std::vector<int64_t> v = get_ints(env, value);
      TF_SetAttrShape(d, an, v.data(), static_cast<int>(v.size()));
    } else if (kind == "tensor") {
      TF_Tensor* t = to_tensor(env, value);
      if (!t) {
        napi_throw_error(env, nullptr, ("graph: " + name + ": bad tensor for " + attr_name).c_str());
        return nullptr;
      }
      TF_SetAttrTensor(d, an, t, s.s);
      TF_DeleteTensor(t);
      if (!s.ok()) return throw_status(env, ("graph: " + name).c_str(), s.s);
    } else {
      napi_throw_error(env, nullptr, ("graph: unknown attribute kind " + kind).c_str());
      return nullptr;
    }
  }
  uint32_t n_control = 0;
  napi_get_array_length(env, argv[5], &n_control);
  for (uint32_t i = 0; i < n_control; i++) {
    napi_value c;
    napi_get_element(env, argv[5], i, &c);
    TF_Operation* op = TF_GraphOperationByName(g->graph, get_string(env, c).c_str());
    if (op) TF_AddControlInput(d, op);
  }
  TF_FinishOperation(d, s.s);
  if (!s.ok()) return throw_status(env, ("graph: " + type + " " + name).c_str(), s.s);
  return nullptr;
}

// gradients(graph, ys: output[], xs: output[], prefix) -> output[] (the d(sum ys)/dx, as [name, index])
// The C++ gradient registry's ReluGrad and Relu6Grad read the activation's input, Python's its output; both
// give the same values (relu(x) > 0 exactly where x > 0, likewise for relu6's open interval). Reading the
// output, as Keras does, leaves the BiasAdd before it one consumer, so Grappler's remapper can fuse
// Conv2D/MatMul + BiasAdd + Relu into one kernel; reading the input would keep a separate Relu pass over
// every activation. Rewires the gradient ops added since operation position `from`.
void read_activation_outputs(TF_Graph* graph, size_t from, TF_Status* status) {
  size_t pos = from;
  while (TF_Operation* op = TF_GraphNextOperation(graph, &pos)) {
    std::string type = TF_OperationOpType(op);
    if (type != "ReluGrad" && type != "Relu6Grad") continue;
    const std::string forward = type.substr(0, type.size() - 4);
    TF_Input features{op, 1};
    TF_Output x = TF_OperationInput(features);
    int n = TF_OperationOutputNumConsumers(x);
    std::vector<TF_Input> consumers(static_cast<size_t>(n));
    TF_OperationOutputConsumers(x, consumers.data(), n);
    for (const TF_Input& c : consumers) {
      if (c.index != 0 || forward != TF_OperationOpType(c.oper)) continue;
      TF_UpdateEdge(graph, TF_Output{c.oper, 0}, features, status);
      if (TF_GetCode(status) != 0) return;
      break;
    }
  }
}

napi_value gradients(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Graph* g = unwrap(env, argv[0]);
  auto outputs = [&](napi_value arr, std::vector<TF_Output>* out) {
    uint32_t n = 0;
    napi_get_array_length(env, arr, &n);
    out->resize(n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value e;
      napi_get_element(env, arr, i, &e);
      if (!get_output(env, g, e, &(*out)[i])) return false;
    }
    return true;
  };
  std::vector<TF_Output> ys, xs;
  if (!outputs(argv[1], &ys) || !outputs(argv[2], &xs)) {
    napi_throw_error(env, nullptr, "graph: gradients: unknown output");
    return nullptr;
  }
  std::vector<TF_Output> dx(xs.size());
  size_t first_new = 0;
  while (TF_GraphNextOperation(g->graph, &first_new)) {
  }
  StatusGuard s;
  TF_AddGradients(g->graph, ys.data(), static_cast<int>(ys.size()), xs.data(), static_cast<int>(xs.size()), nullptr,
                  s.s, dx.data());
  if (!s.ok()) return throw_status(env, "graph: gradients", s.s);
  read_activation_outputs(g->graph, first_new, s.s);
  if (!s.ok()) return throw_status(env, "graph: gradients", s.s);
  napi_value result;
  CHECK(napi_create_array_with_length(env, dx.size(), &result));
  for (size_t i = 0; i < dx.size(); i++) {
    napi_value pair, op_name, index;
    CHECK(napi_create_array_with_length(env, 2, &pair));
    CHECK(napi_create_string_utf8(env, TF_OperationName(dx[i].oper), NAPI_AUTO_LENGTH, &op_name));
    CHECK(napi_create_int32(env, dx[i].index, &index));
    napi_set_element(env, pair, 0, op_name);
    napi_set_element(env, pair, 1, index);
    napi_set_element(env, result, i, pair);
  }
  return result;
}

// startSession(graph, config: Uint8Array (a serialized ConfigProto))
napi_value start_session(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Graph* g = unwrap(env, argv[0]);
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
  StatusGuard s;
  TF_SessionOptions* opts = TF_NewSessionOptions();
  TF_SetConfig(opts, data, length, s.s);
  if (s.ok()) g->session = TF_NewSession(g->graph, opts, s.s);
  TF_DeleteSessionOptions(opts);
  if (!s.ok()) return throw_status(env, "graph: session", s.s);
  return nullptr;
}

// One TF_SessionRun: its inputs taken from JS (the feeds copied into TF tensors, so the caller's buffers are
// free once the call returns), run on whichever thread calls execute(), its outputs handed back to JS.
struct SessionCall {
  Graph* g = nullptr;
  std::vector<TF_Output> feeds, fetches;
  std::vector<TF_Tensor*> values, results;
  std::vector<const TF_Operation*> targets;
  TF_Buffer* options = nullptr;
  TF_Buffer* metadata = nullptr;
  TF_Status* status = TF_NewStatus();
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;

  ~SessionCall() {
    for (TF_Tensor* t : values)
      if (t) TF_DeleteTensor(t);
    for (TF_Tensor* t : results)
      if (t) TF_DeleteTensor(t);
    if (options) TF_DeleteBuffer(options);
    if (metadata) TF_DeleteBuffer(metadata);
    TF_DeleteStatus(status);
  }

  // Reads (graph, feeds, fetches, targets, runOptions?); on a bad argument returns the error to throw.
  const char* parse(napi_env env, napi_value* argv, size_t argc) {
    g = unwrap(env, argv[0]);
    if (!g->session) return "graph: run before startSession";
    uint32_t n_feeds = 0, n_fetches = 0, n_targets = 0;
    napi_get_array_length(env, argv[1], &n_feeds);
    napi_get_array_length(env, argv[2], &n_fetches);
    napi_get_array_length(env, argv[3], &n_targets);
    feeds.resize(n_feeds);
    values.assign(n_feeds, nullptr);
    fetches.resize(n_fetches);
    results.assign(n_fetches, nullptr);
    targets.resize(n_targets);
    for (uint32_t i = 0; i < n_feeds; i++) {
      napi_value pair, out, tensor;
      napi_get_element(env, argv[1], i, &pair);
      napi_get_element(env, pair, 0, &out);
      napi_get_element(env, pair, 1, &tensor);
      values[i] = to_tensor(env, tensor);
      if (!get_output(env, g, out, &feeds[i]) || !values[i]) return "graph: run: bad feed";
    }
    for (uint32_t i = 0; i < n_fetches; i++) {
      napi_value out;
      napi_get_element(env, argv[2], i, &out);
      if (!get_output(env, g, out, &fetches[i])) return "graph: run: unknown fetch";
    }
    for (uint32_t i = 0; i < n_targets; i++) {
      napi_value t;
      napi_get_element(env, argv[3], i, &t);
      targets[i] = TF_GraphOperationByName(g->graph, get_string(env, t).c_str());
      if (!targets[i]) return "graph: run: unknown target";
    }
    napi_valuetype kind = napi_undefined;
    if (argc > 4) napi_typeof(env, argv[4], &kind);
    if (kind == napi_object) {
      napi_typedarray_type type;
      size_t length, offset;
      void* data;
      napi_value ab;
      if (napi_get_typedarray_info(env, argv[4], &type, &length, &data, &ab, &offset) != napi_ok)
        return "graph: run: runOptions must be a Uint8Array";
      options = TF_NewBufferFromString(data, length);
      metadata = TF_NewBuffer();
    }
    return nullptr;
  }

  void execute() {
    TF_SessionRun(g->session, options, feeds.data(), values.data(), static_cast<int>(feeds.size()), fetches.data(),
                  results.data(), static_cast<int>(fetches.size()), targets.data(), static_cast<int>(targets.size()),
                  metadata, status);
  }

  bool ok() const { return TF_GetCode(status) == 0; }

  // The fetched tensors (and `metadata` when traced), or the error of a failed run.
  napi_value result(napi_env env) {
    if (!ok()) {
      std::string msg = std::string("graph: run: ") + TF_Message(status);
      napi_value text, error;
      napi_create_string_utf8(env, msg.c_str(), msg.size(), &text);
      napi_create_error(env, nullptr, text, &error);
      return error;
    }
    napi_value out;
    napi_create_array_with_length(env, results.size(), &out);
    for (size_t i = 0; i < results.size(); i++) napi_set_element(env, out, i, from_tensor(env, results[i]));
    if (metadata) {
      napi_value ab, bytes;
      void* data;
      napi_create_arraybuffer(env, metadata->length, &data, &ab);
      if (metadata->length) std::memcpy(data, metadata->data, metadata->length);
      napi_create_typedarray(env, napi_uint8_array, metadata->length, ab, 0, &bytes);
      napi_set_named_property(env, out, "metadata", bytes);
    }
    return out;
  }
};

// run(graph, feeds: [output, tensor][], fetches: output[], targets: string[], runOptions?: Uint8Array)
//   -> tensor[]; with runOptions (a serialized RunOptions, e.g. a trace level) the array also carries
//   `metadata`, the serialized RunMetadata (step stats for a profile).
napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  SessionCall call;
  if (const char* bad = call.parse(env, argv, argc)) {
    napi_throw_error(env, nullptr, bad);
    return nullptr;
  }
  call.execute();
  napi_value out = call.result(env);
  if (!call.ok()) {
    napi_throw(env, out);
    return nullptr;
  }
  return out;
}

// runAsync(same arguments as run) -> Promise of run's result: the session runs on a libuv worker thread, so
// JavaScript can prepare the next batch meanwhile. One call at a time per graph: the caller awaits each.
napi_value run_async(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], promise, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* call = new SessionCall();
  if (const char* bad = call->parse(env, argv, argc)) {
    delete call;
    napi_throw_error(env, nullptr, bad);
    return nullptr;
  }
  CHECK(napi_create_promise(env, &call->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "run-exp graph step", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(
      env, nullptr, name, [](napi_env, void* data) { static_cast<SessionCall*>(data)->execute(); },
      [](napi_env env, napi_status, void* data) {
        auto* call = static_cast<SessionCall*>(data);
        napi_value out = call->result(env);
        if (call->ok())
          napi_resolve_deferred(env, call->deferred, out);
        else
          napi_reject_deferred(env, call->deferred, out);
        napi_delete_async_work(env, call->work);
        delete call;
      },
      call, &call->work));
  CHECK(napi_queue_async_work(env, call->work));
  return promise;
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", nullptr, open_library, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"newGraph", nullptr, new_graph, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addOp", nullptr, add_op, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gradients", nullptr, gradients, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"startSession", nullptr, start_session, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"runAsync", nullptr, run_async, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
