// Float32 kernels for the CPU prompt path (decode_cpu.cc): a register-tiled product of many x
// rows with a few rows of W, and vectorised exp / SiLU / axpy for the elementwise parts. Each has
// an AVX-512 body chosen at run time and a scalar fallback, so the addon runs on any x86-64 CPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace medtune {

// Rows of x per packed panel, and rows of W per register tile.
constexpr int kGemmPanelRows = 64;
constexpr int kGemmTileRows = 6;

// Floats one packed copy of x (M, in) takes: ceil(M / 64) panels of (in, 64).
size_t gemmPanelsSize(int M, int in);
// x (M, in) -> panels: panel p holds x rows [64p, 64p + 64) transposed to (in, 64), zero past M.
void gemmPackPanels(const float* x, int M, int in, float* panels);
// yT[n * 64 + m] = rows[n] . x[m] for n < nrows (at most kGemmTileRows) and the x rows m of one
// panel holding M <= 64 rows (entries past M, up to the next multiple of 16, are written too);
// each rows[n] holds `in` floats in x's column order. Transposed output: whole-vector stores.
void gemmTile(const float* const* rows, int nrows, const float* panel, int M, int in, float* yT);
// y[m * ldy + o] = yT[o * 64 + m] for o < nout, m < M: a panel's outputs back to row order.
void gemmUnpack(const float* yT, int nout, int M, float* y, size_t ldy);

// p[i] = exp(p[i] - shift), returns the sum of the results (softmax's numerator and total).
float expShiftSum(float* p, int n, float shift);
// g[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u.
void siluMul(float* g, const float* u, size_t n);
// y[i] += a * x[i].
void axpy(float a, const float* x, float* y, int n);
// The backward of y = silu(g) * u for the cotangent dy, with s = sigmoid(g[i]):
// dg[i] = dy[i] * u[i] * s * (1 + g[i] * (1 - s)), du[i] = dy[i] * g[i] * s.
void siluMulGrad(const float* g, const float* u, const float* dy, float* dg, float* du, size_t n);
// The largest of p[0..n), n >= 1.
float rowMax(const float* p, int n);
// y[i] = gelu(x[i]): the erf form 0.5 x (1 + erf(x / sqrt 2)) with erf by Abramowitz & Stegun
// 7.1.26 (|error| <= 1.5e-7), or the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void gelu(const float* x, float* y, size_t n, bool tanhForm);
// dx[i] = dy[i] * gelu'(x[i]) for the same two forms.
void geluGrad(const float* x, const float* dy, float* dx, size_t n, bool tanhForm);

// The index of the first largest of p[0..n) (std::max_element's answer, NaN cases included).
int argmaxFirst(const float* p, int n);

// Attention of G query heads that share one KV head over n consecutive cache positions: q and out
// (G, hd), keys and vals (n, hd) from the first position seen, p scratch of G * n floats. Each
// head's scores are its q . k times `scale` (16 keys per pass, no per-key horizontal sum), then
// the softmax, then the probability-weighted sum of the values, the G heads reading each value row
// once. False (nothing written) when there is no kernel for hd (AVX-512 and hd a multiple of 16
// up to 128); a head's result does not depend on G.
bool attendKvGroup(const float* q, int G, const float* keys, const float* vals, int n, int hd,
                   float scale, float* p, float* out);
// The same over a float16 cache (keys and vals as IEEE half bits); also needs F16C.
bool attendKvGroup(const float* q, int G, const uint16_t* keys, const uint16_t* vals, int n, int hd,
                   float scale, float* p, float* out);

}  // namespace medtune
