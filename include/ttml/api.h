/* ttml/api.h - TTML_API, the export marker of the public API.
 *
 * libttml and every plugin build with hidden visibility: a function is
 * exported only when its declaration in include/ttml/ carries TTML_API
 * (tests/install/test_exports.sh checks that nothing else is). In the static
 * build the marker keeps the API visible to plugins loaded by path from a
 * tool built with -rdynamic; it is harmless otherwise.
 */
#ifndef TTML_API_H
#define TTML_API_H

#if defined(__GNUC__) || defined(__clang__)
#define TTML_API __attribute__((visibility("default")))
#else
#define TTML_API
#endif

#endif
