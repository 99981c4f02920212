// tests/support/threads_guard.hpp — puts the library's thread count back when a test that changed it ends.
//
//     const ThreadsGuard guard;   // remembers threads()
//     set_threads(2); ...         // whatever the test needs
//                                 // ~ThreadsGuard: set_threads(the remembered count), also when a CHECK throws
#pragma once

#include "eigenformer/core/threads.hpp"

namespace eigenformer::testing {

/// Restores the thread count (eigenformer::threads()) a test changed.
struct ThreadsGuard {
  int saved = threads();
  ~ThreadsGuard() { set_threads(saved); }
};

}  // namespace eigenformer::testing
