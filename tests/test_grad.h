/* tests/test_grad.h - the shared harness of the op and model suites
 * (test_ops_grad, test_nn_ops, test_attention, test_transformers,
 * test_models): tensors from host data, read-back, tolerance comparisons and
 * finite-difference gradient checks, plus building models from YAML.
 *
 * Every helper asserts through CUnit (a failed allocation or read is a
 * FATAL assert), so callers need no error handling. Returned tensors are
 * new references (ttml_tensor_unref); returned arrays are g_free'd.
 *
 * Gradient check: loss = sum(op(inputs) * R) with R a fixed random tensor
 * (uniform in [-1, 1)), so every output element matters; each element of
 * every input with requires_grad is perturbed by +-h and (L+ - L-) / 2h
 * (loss accumulated in double on the host, forward run with gradients off)
 * is compared with the analytic gradient from backward. Inputs without
 * requires_grad must get no gradient.
 */
#ifndef TTML_TEST_GRAD_H
#define TTML_TEST_GRAD_H

#include "test_util.h"

/* ---- tensors ---- */

/* Number of elements of a shape. */
size_t ttml_test_numel(int ndim, const int64_t *shape);
/* An f32 tensor on the default device holding `data`. */
ttml_tensor *ttml_test_tensor(int ndim, const int64_t *shape, const float *data,
                              gboolean requires_grad);
/* Uniform values in [lo, hi) from the context RNG. */
ttml_tensor *ttml_test_rand_tensor(int ndim, const int64_t *shape, float lo, float hi,
                                   gboolean requires_grad);
/* Magnitudes uniform in [min_abs, hi) with a random sign (keeps divisors and
 * relu inputs away from 0). */
ttml_tensor *ttml_test_rand_tensor_nonzero(int ndim, const int64_t *shape, float min_abs, float hi,
                                           gboolean requires_grad);
/* Host copy of t's values as f32 (t->numel floats). */
float *ttml_test_read_floats(const ttml_tensor *t);

/* ---- comparisons ---- */

/* |got - want| <= atol + rtol * |want| (FALSE for NaN). */
gboolean ttml_test_close(double got, double want, double atol, double rtol);
/* Count the elements of got that are not close to want, printing the first
 * five as "what[i] = got, expected want". */
int ttml_test_compare(const char *what, const float *got, const double *want, size_t n, double atol,
                      double rtol);
int ttml_test_compare_f(const char *what, const float *got, const float *want, size_t n,
                        double atol, double rtol);
/* Assert that a and b have the same numel and close values. */
void ttml_test_assert_tensors_close(const char *what, const ttml_tensor *a, const ttml_tensor *b,
                                    double atol, double rtol);
/* Flat index into t of the element broadcast to flat index `flat` of a
 * tensor of shape (ndim, shape) (NumPy rules, right-aligned). */
size_t ttml_test_bcast_index(const ttml_tensor *t, int ndim, const int64_t *shape, size_t flat);

/* ---- gradient checks ---- */

/* The op under test: a new reference or NULL with *error set. */
typedef ttml_tensor *(*ttml_test_fwd_fn)(ttml_tensor **in, int n_in, const void *ctx,
                                         GError **error);
/* Its naive reference: fill out (y->numel values) from host copies `vals`
 * of the inputs; y is the op's result (for its shape). */
typedef void (*ttml_test_ref_fn)(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                                 const ttml_tensor *y, double *out);

/* Tolerances of ttml_test_check_op. */
typedef struct ttml_test_tol {
    double fwd_atol, fwd_rtol;   /* forward against the reference         */
    double h;                    /* finite-difference step                */
    double atol, rtol;           /* gradient against finite differences   */
} ttml_test_tol;

/* sum(f(in) * r) in double with gradients disabled (r holds y->numel values). */
double ttml_test_eval_loss(ttml_test_fwd_fn f, ttml_tensor **in, int n_in, const void *ctx,
                           const float *r);
/* Backward of sum(y * r) (r holds y->numel values); gradients land in the
 * leaves' ->grad and the graph is freed. */
void ttml_test_backward_weighted(ttml_tensor *y, const float *r);
/* Central difference (L(x + h e_j) - L(x - h e_j)) / 2h for element j of x,
 * whose host values are xv: writes the two perturbed values into x and
 * calls loss(user) after each. On return xv[j] is restored but x still
 * holds x - h e_j: write xv back when done. */
double ttml_test_central_diff(ttml_tensor *x, float *xv, size_t j, double h,
                              double (*loss)(void *user), void *user);
/* Backward of sum(f(in) * R), then every element of every input with
 * requires_grad against central differences with step h. */
void ttml_test_gradcheck(const char *what, ttml_test_fwd_fn f, const void *ctx, ttml_tensor **in,
                         int n_in, double h, double atol, double rtol);
/* As ttml_test_gradcheck, after checking the forward against `ref` (when
 * not NULL) with tol->fwd_atol / fwd_rtol; the result must be f32. */
void ttml_test_check_op(const ttml_test_tol *tol, const char *what, ttml_test_fwd_fn f,
                        ttml_test_ref_fn ref, const void *ctx, ttml_tensor **in, int n_in);

/* ---- models ---- */

/* ttml_model_create(name) from a YAML string (NULL and *err on failure). */
ttml_module *ttml_test_model_from_yaml(const char *name, const char *yaml, GError **err);

/* One expected parameter: name, rank and the first one or two dims. */
typedef struct ttml_test_param { const char *name; int ndim; int64_t d0, d1; } ttml_test_param;
/* Assert m has exactly these n parameters in order (names, shapes,
 * requires_grad) and that ttml_module_num_params counts all of them;
 * returns the total number of parameter elements. */
gsize ttml_test_check_params(ttml_module *m, const ttml_test_param *want, guint n);

#endif
