// trim(): glibc's malloc_trim(0), which gives the kernel back every whole free page of the
// allocator's heaps, the middle of a heap included, where free() alone gives back only a heap's top.
// Elsewhere (musl, macOS) a no-op that returns false. Why: docs/decisions/0009-giving-memory-back.md
#include <stdlib.h> // defines __GLIBC__ on glibc (through features.h)
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value Trim (napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

static napi_value Supported (napi_env env) {
  napi_value result;
#ifdef __GLIBC__
  napi_get_boolean(env, true, &result);
#else
  napi_get_boolean(env, false, &result);
#endif
  return result;
}

NAPI_MODULE_INIT () {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  napi_set_named_property(env, exports, "supported", Supported(env));
  return exports;
}
