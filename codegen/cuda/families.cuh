// Kernel families. Every kernel below binds one of these device templates to
// a config struct holding its layer's sizes as compile-time constants, so
// the compiler sees every loop bound and index divisor. Activations are NCHW
// float32; n, the batch, is the only runtime size. Indices are 32-bit: the
// host checks that batch × the largest activation fits.

#define GRCC_DEVICE __device__ __forceinline__

// Epilogues of grcc_conv2d.
enum { EPI_NONE = 0, EPI_GATE = 1, EPI_RESIDUAL = 2, EPI_ADD = 3 };
// Operations of grcc_eltwise.
enum { OP_SCALESHIFT = 0, OP_RELU = 1, OP_ADD = 2, OP_GATE = 3, OP_RESIDUAL = 4 };

GRCC_DEVICE float grcc_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// grcc_act applies the folded input BatchNorm (and its ReLU) of a consumer
// to one element it reads.
template <bool PRE, bool RELU>
GRCC_DEVICE float grcc_act(float v, float scale, float shift) {
  if (!PRE) return v;
  v = fmaf(v, scale, shift);
  return RELU ? fmaxf(v, 0.0f) : v;
}

// grcc_conv_col returns element (ci, ih, iw) of a convolution's input as the
// convolution sees it: the BatchNorm+ReLU prologue applied (PRE), average
// pooled from the XH×XW tensor in memory (POOL), and 0 in the padding; the
// prologue touches only in-bounds elements, so padding stays zero.
template <class C>
GRCC_DEVICE float grcc_conv_col(const float* __restrict__ in, const float* __restrict__ pre_scale,
                                const float* __restrict__ pre_shift, int img, int ci, int ih, int iw) {
  if (ih < 0 || ih >= C::H || iw < 0 || iw >= C::W) return 0.0f;
  const float* x = in + (img * C::CIN + ci) * (C::XH * C::XW);
  const float ps = C::PRE ? pre_scale[ci] : 1.0f, ph = C::PRE ? pre_shift[ci] : 0.0f;
  if (!C::POOL) return grcc_act<C::PRE, C::PRE_RELU>(x[ih * C::XW + iw], ps, ph);
  float sum = 0.0f;
#pragma unroll
  for (int a = 0; a < C::PKH; ++a) {
    const int y = ih * C::PSH - C::PPH + a;
#pragma unroll
    for (int b = 0; b < C::PKW; ++b) {
      const int xx = iw * C::PSW - C::PPW + b;
      if (y >= 0 && y < C::XH && xx >= 0 && xx < C::XW)
        sum += grcc_act<C::PRE, C::PRE_RELU>(x[y * C::XW + xx], ps, ph);
    }
  }
  return sum / (C::PKH * C::PKW);
}

// grcc_conv2d computes one BM×BN tile of a convolution as an implicit GEMM:
// for group g, out[g·MG + m][q] = Σ_k w[g·MG + m][k] · col[k][q], where k runs
// over the group's input channels × KH × KW and q over the output pixels of
// the whole batch. Tiles of w and of the never-materialised im2col matrix
// col are staged in shared memory, double-buffered so that the global loads
// of tile k+1 overlap the arithmetic on tile k; each thread accumulates a
// TM×TN block in registers, its rows and columns strided by BM/TM and BN/TN
// so that shared-memory reads are conflict-free and stores coalesce.
// A 1×1 convolution is a plain GEMM (the IS1X1 path skips the index
// arithmetic); a Linear layer is a 1×1 convolution of a 1×1 image.
//
// Prologue, while loading col: the input BatchNorm+ReLU (PRE), applied to
// in-bounds elements only so that padding stays zero; an average pool of
// the input (POOL); or, for a 1×1 convolution after a selective-kernel
// convolution, the mix of its MIX branches in, in1, ... by their attention
// att[img][m][c] (MIX).
//
// Epilogue per output: × scale (folded BatchNorm) + shift (folded shift and
// bias), ReLU, then EPI: the GRCL gate update out += v·sigmoid(aux0 + aux1),
// the ungated out += v, or out = v + aux0.
//
// Grid: x over BN-pixel tiles of the batch, y over groups × BM-channel
// tiles; the block's place in it is (bx, by), so that one launch can run
// two independent convolutions side by side (grcc_conv2d_pair).
template <class C>
GRCC_DEVICE void grcc_conv2d(const float* __restrict__ in, const float* __restrict__ in1,
                             const float* __restrict__ in2, const float* __restrict__ in3,
                             const float* __restrict__ att, const float* __restrict__ w,
                             const float* __restrict__ pre_scale, const float* __restrict__ pre_shift,
                             const float* __restrict__ scale, const float* __restrict__ shift,
                             const float* __restrict__ aux0, const float* __restrict__ aux1, float* out,
                             int n, int bx, int by) {
  constexpr int CG = C::CIN / C::GROUPS, MG = C::COUT / C::GROUPS;
  constexpr int KK = C::KH * C::KW, K = CG * KK, HWO = C::HO * C::WO;
  constexpr int BM = C::BM, BN = C::BN, BK = C::BK, TM = C::TM, TN = C::TN, T = C::THREADS;
  constexpr int SM = BM / TM, SN = BN / TN;
  static_assert(SM * SN == T, "grcc_conv2d: the threads must cover the tile");
  static_assert(T % BK == 0 && T % BN == 0 && BK % (T / BN) == 0, "grcc_conv2d: tile loading");
  constexpr int KT = (K + BK - 1) / BK, MTILES = (MG + BM - 1) / BM;
  constexpr int RA = (BM * BK + T - 1) / T, RB = BK * BN / T;
  constexpr bool IS1X1 = C::KH == 1 && C::KW == 1 && C::SH == 1 && C::SW == 1 && C::PH == 0 &&
                         C::PW == 0 && !C::POOL;
  static_assert(C::MIX == 0 || (IS1X1 && !C::PRE && C::MIX <= 4), "grcc_conv2d: MIX needs a plain 1x1 convolution");

  __shared__ float As[2][BK][BM + 1];
  __shared__ float Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int g = by / MTILES;
  const int m0 = (by % MTILES) * BM;
  const int q0 = bx * BN;
  const int npix = n * HWO;

  // This thread loads weight column ak of rows am + r·(T/BK), and col
  // column bq (one output pixel) of rows bk + r·(T/BN).
  const int ak = tid % BK, am = tid / BK;
  const float* wg = w + (g * MG + m0) * K;
  const int bq = tid % BN, bk = tid / BN;
  const int q = q0 + bq;
  const bool qvalid = q < npix;
  const int img = qvalid ? q / HWO : 0;
  const int p = q - img * HWO;
  const int oh = p / C::WO, ow = p % C::WO;

  // Bounds that hold by construction are tested at compile time: fewer
  // predicates, which ptxas otherwise spills.
  constexpr bool ROWS_FIT = RA * (T / BK) <= BM, M_FITS = MG % BM == 0, K_FITS = K % BK == 0;
  float ra[RA], rb[RB];
  auto load = [&](int k0) {
#pragma unroll
    for (int r = 0; r < RA; ++r) {
      const int m = am + r * (T / BK), k = k0 + ak;
      ra[r] = ((ROWS_FIT || m < BM) && (M_FITS || m0 + m < MG) && (K_FITS || k < K)) ? wg[m * K + k] : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < RB; ++r) {
      const int k = k0 + bk + r * (T / BN);
      float v = 0.0f;
      if (qvalid && (K_FITS || k < K)) {
        const int c = k / KK, rem = k % KK, ci = g * CG + c;
        if (IS1X1 && C::MIX > 0) {
          const int off = (img * C::CIN + ci) * HWO + p;
          const float* a = att + img * C::MIX * C::CIN + ci;
          v = a[0] * in[off];
          if (C::MIX > 1) v += a[C::CIN] * in1[off];
          if (C::MIX > 2) v += a[2 * C::CIN] * in2[off];
          if (C::MIX > 3) v += a[3 * C::CIN] * in3[off];
        } else if (IS1X1) {
          v = grcc_act<C::PRE, C::PRE_RELU>(in[(img * C::CIN + ci) * HWO + p],
                                            C::PRE ? pre_scale[ci] : 1.0f, C::PRE ? pre_shift[ci] : 0.0f);
        } else {
          const int kh = rem / C::KW, kw = rem % C::KW;
          v = grcc_conv_col<C>(in, pre_scale, pre_shift, img, ci, oh * C::SH - C::PH + kh * C::DH,
                          ow * C::SW - C::PW + kw * C::DW);
        }
      }
      rb[r] = v;
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int r = 0; r < RA; ++r) {
      const int m = am + r * (T / BK);
      if (ROWS_FIT || m < BM) As[buf][ak][m] = ra[r];
    }
#pragma unroll
    for (int r = 0; r < RB; ++r) Bs[buf][bk + r * (T / BN)][bq] = rb[r];
  };

  const int tx = tid % SN, ty = tid / SN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  // One barrier per stage: a thread stores stage kt+1 into the buffer that
  // stage kt-1 used only after every thread has passed the barrier of
  // stage kt, and so finished computing on it.
  load(0);
  for (int kt = 0; kt < KT; ++kt) {
    const int cur = kt & 1;
    store(cur);
    __syncthreads();
    if (kt + 1 < KT) load((kt + 1) * BK);
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[cur][k][ty + i * SM];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[cur][k][tx + j * SN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }

#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int qq = q0 + tx + j * SN;
    if (qq >= npix) continue;
    const int qi = qq / HWO;
    const int base = qi * C::COUT * HWO + (qq - qi * HWO);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + ty + i * SM;
      if (!M_FITS && m >= MG) continue;
      const int co = g * MG + m, idx = base + co * HWO;
      float v = acc[i][j];
      if (C::SCALE) v *= scale[co];
      if (C::SHIFT) v += shift[co];
      if (C::RELU) v = fmaxf(v, 0.0f);
      if (C::EPI == EPI_GATE) {
        out[idx] += v * grcc_sigmoid(aux0[idx] + aux1[idx]);
      } else if (C::EPI == EPI_RESIDUAL) {
        out[idx] += v;
      } else if (C::EPI == EPI_ADD) {
        out[idx] = v + aux0[idx];
      } else {
        out[idx] = v;
      }
    }
  }
}

// grcc_conv2d_pair runs two independent convolutions in one launch: the
// grid's rows [0, A's rows) run A, the rest B; blocks past the end of a
// convolution's pixel tiles (the grid is as wide as the wider one) exit.
template <class A, class B>
GRCC_DEVICE void grcc_conv2d_pair(
    const float* a_in, const float* a_in1, const float* a_in2, const float* a_in3, const float* a_att,
    const float* a_w, const float* a_pre_scale, const float* a_pre_shift, const float* a_scale,
    const float* a_shift, const float* a_aux0, const float* a_aux1, float* a_out, const float* b_in,
    const float* b_in1, const float* b_in2, const float* b_in3, const float* b_att, const float* b_w,
    const float* b_pre_scale, const float* b_pre_shift, const float* b_scale, const float* b_shift,
    const float* b_aux0, const float* b_aux1, float* b_out, int n) {
  constexpr int AROWS = A::GROUPS * ((A::COUT / A::GROUPS + A::BM - 1) / A::BM);
  static_assert(A::THREADS == B::THREADS, "grcc_conv2d_pair: block sizes differ");
  const int bx = blockIdx.x, by = blockIdx.y;
  if (by < AROWS) {
    if (bx * A::BN < n * A::HO * A::WO)
      grcc_conv2d<A>(a_in, a_in1, a_in2, a_in3, a_att, a_w, a_pre_scale, a_pre_shift, a_scale, a_shift, a_aux0,
                     a_aux1, a_out, n, bx, by);
  } else if (bx * B::BN < n * B::HO * B::WO) {
    grcc_conv2d<B>(b_in, b_in1, b_in2, b_in3, b_att, b_w, b_pre_scale, b_pre_shift, b_scale, b_shift, b_aux0,
                   b_aux1, b_out, n, bx, by - AROWS);
  }
}

// grcc_pool2d computes one output element per thread of a max or average pool
// (PyTorch semantics: floor mode; max ignores the padding, average counts
// it), with the BatchNorm+ReLU before the pool applied to what it reads.
// Grid: x over the image's outputs, y over the batch.
template <class C>
GRCC_DEVICE void grcc_pool2d(const float* __restrict__ in, const float* __restrict__ pre_scale,
                        const float* __restrict__ pre_shift, float* __restrict__ out, int n) {
  const int i = blockIdx.x * C::THREADS + threadIdx.x, img = blockIdx.y;
  if (i >= C::C * C::HO * C::WO || img >= n) return;
  const int c = i / (C::HO * C::WO), p = i % (C::HO * C::WO);
  const int oh = p / C::WO, ow = p % C::WO;
  const float* x = in + (img * C::C + c) * (C::H * C::W);
  const float ps = C::PRE ? pre_scale[c] : 1.0f, ph = C::PRE ? pre_shift[c] : 0.0f;
  int h0 = oh * C::SH - C::PH, w0 = ow * C::SW - C::PW;
  int h1 = min(h0 + C::KH, C::H + C::PH), w1 = min(w0 + C::KW, C::W + C::PW);
  const int count = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, C::H);
  w1 = min(w1, C::W);
  float r = C::MAX ? -INFINITY : 0.0f;
  for (int y = h0; y < h1; ++y)
    for (int xx = w0; xx < w1; ++xx) {
      const float v = grcc_act<C::PRE, C::PRE_RELU>(x[y * C::W + xx], ps, ph);
      r = C::MAX ? fmaxf(r, v) : r + v;
    }
  out[img * C::C * C::HO * C::WO + i] = C::MAX ? r : r / count;
}

// grcc_channel_mean averages each channel over its HW pixels (a global
// average pool), applying the BatchNorm+ReLU before the pool to each
// element. TPC threads reduce one channel through shared memory; a block
// holds CPB channels. Grid: x over channel groups, y over the batch.
template <class C>
GRCC_DEVICE void grcc_channel_mean(const float* __restrict__ in, const float* __restrict__ pre_scale,
                                   const float* __restrict__ pre_shift, float* __restrict__ out, int n) {
  constexpr int T = C::TPC * C::CPB;
  __shared__ float red[T];
  const int tid = threadIdx.x, lane = tid % C::TPC;
  const int c = blockIdx.x * C::CPB + tid / C::TPC, img = blockIdx.y;
  float s = 0.0f;
  if (c < C::C && img < n) {
    const int base = (img * C::C + c) * C::HW;
    const float ps = C::PRE ? pre_scale[c] : 1.0f, ph = C::PRE ? pre_shift[c] : 0.0f;
    for (int p = lane; p < C::HW; p += C::TPC) s += grcc_act<C::PRE, C::PRE_RELU>(in[base + p], ps, ph);
  }
  red[tid] = s;
  __syncthreads();
#pragma unroll
  for (int stride = C::TPC / 2; stride > 0; stride /= 2) {
    if (lane < stride) red[tid] += red[tid + stride];
    __syncthreads();
  }
  if (lane == 0 && c < C::C && img < n) out[img * C::C + c] = red[tid] / C::HW;
}

// grcc_sk_attention computes the attention of a selective-kernel
// convolution in one launch. Each block averages CPB channels of the sum of
// the M branches into s (TPC threads per channel); the last block to finish
// an image, found by an atomic ticket, then computes for all its channels
// z = relu(bn(fc1 · s)) (fc1: D×C) and att[m][c] = softmax over m of
// (fc2 · z)[m·C + c], fc2 being uploaded transposed (D × M·C) so that
// threads read it coalesced; it resets the image's ticket for the next
// launch. Grid: x over channel groups, y over the batch.
template <class C>
GRCC_DEVICE void grcc_sk_attention(const float* __restrict__ in0, const float* __restrict__ in1,
                                   const float* __restrict__ in2, const float* __restrict__ in3,
                                   const float* __restrict__ w1, const float* __restrict__ scale1,
                                   const float* __restrict__ shift1, const float* __restrict__ w2t,
                                   float* s, float* __restrict__ att, int* counter, int n) {
  constexpr int T = C::TPC * C::CPB, TPR = 8, RPP = T / TPR;
  static_assert(T == C::THREADS && T % TPR == 0, "grcc_sk_attention: block size");
  __shared__ float red[T];
  __shared__ float sv[C::C];
  __shared__ float z[C::D];
  __shared__ int ticket;
  const int tid = threadIdx.x, lane = tid % C::TPC;
  const int c = blockIdx.x * C::CPB + tid / C::TPC, img = blockIdx.y;
  float sum = 0.0f;
  if (c < C::C) {
    const int base = (img * C::C + c) * C::HW;
    for (int p = lane; p < C::HW; p += C::TPC) {
      float v = in0[base + p];
      if (C::M > 1) v += in1[base + p];
      if (C::M > 2) v += in2[base + p];
      if (C::M > 3) v += in3[base + p];
      sum += v;
    }
  }
  red[tid] = sum;
  __syncthreads();
#pragma unroll
  for (int stride = C::TPC / 2; stride > 0; stride /= 2) {
    if (lane < stride) red[tid] += red[tid + stride];
    __syncthreads();
  }
  if (lane == 0 && c < C::C) s[img * C::C + c] = red[tid] / C::HW;
  // Every writer publishes its mean device-wide, and the block has written
  // all of them, before it takes a ticket.
  __threadfence();
  __syncthreads();
  if (tid == 0) ticket = atomicAdd(&counter[img], 1);
  __syncthreads();
  if (ticket != int(gridDim.x) - 1) return;
  if (tid == 0) counter[img] = 0;
  for (int k = tid; k < C::C; k += T) sv[k] = __ldcg(&s[img * C::C + k]);
  __syncthreads();
  // TPR threads per row of fc1, RPP rows at a time.
  for (int j0 = 0; j0 < C::D; j0 += RPP) {
    const int j = j0 + tid / TPR, l = tid % TPR;
    float a = 0.0f;
    if (j < C::D)
      for (int k = l; k < C::C; k += TPR) a = fmaf(w1[j * C::C + k], sv[k], a);
    red[tid] = a;
    __syncthreads();
    if (l == 0 && j < C::D) {
      float t = 0.0f;
#pragma unroll
      for (int r = 0; r < TPR; ++r) t += red[tid + r];
      z[j] = fmaxf(fmaf(t, scale1[j], shift1[j]), 0.0f);
    }
    __syncthreads();
  }
  for (int k = tid; k < C::C; k += T) {
    float e[C::M];
#pragma unroll
    for (int m = 0; m < C::M; ++m) e[m] = 0.0f;
    for (int j = 0; j < C::D; ++j) {
      const float zj = z[j];
#pragma unroll
      for (int m = 0; m < C::M; ++m) e[m] = fmaf(w2t[j * C::M * C::C + m * C::C + k], zj, e[m]);
    }
    float mx = e[0];
#pragma unroll
    for (int m = 1; m < C::M; ++m) mx = fmaxf(mx, e[m]);
    float total = 0.0f;
#pragma unroll
    for (int m = 0; m < C::M; ++m) {
      e[m] = expf(e[m] - mx);
      total += e[m];
    }
#pragma unroll
    for (int m = 0; m < C::M; ++m) att[(img * C::M + m) * C::C + k] = e[m] / total;
  }
}

// grcc_sk_apply weights the branches of a selective-kernel convolution by
// their attention, out = Σ_m att[m][c] · in_m, when no 1×1 convolution
// can do it while loading (MIX of grcc_conv2d). Grid: x over the image's
// elements, y over the batch.
template <class C>
GRCC_DEVICE void grcc_sk_apply(const float* __restrict__ att, const float* __restrict__ in0,
                          const float* __restrict__ in1, const float* __restrict__ in2,
                          const float* __restrict__ in3, float* __restrict__ out, int n) {
  const int i = blockIdx.x * C::THREADS + threadIdx.x, img = blockIdx.y;
  if (i >= C::C * C::HW || img >= n) return;
  const int idx = img * C::C * C::HW + i;
  const float* a = att + img * C::M * C::C + i / C::HW;
  float v = a[0] * in0[idx];
  if (C::M > 1) v += a[C::C] * in1[idx];
  if (C::M > 2) v += a[2 * C::C] * in2[idx];
  if (C::M > 3) v += a[3 * C::C] * in3[idx];
  out[idx] = v;
}

// grcc_eltwise is one elementwise step that no fusion absorbed: a BatchNorm as
// scale and shift (then ReLU if RELU), a ReLU, an addition, or a gate update
// out += a·sigmoid(b + c) (ungated: out += a). Grid: x over the image's
// elements, y over the batch.
template <class C>
GRCC_DEVICE void grcc_eltwise(const float* __restrict__ a, const float* __restrict__ b,
                         const float* __restrict__ c, const float* __restrict__ scale,
                         const float* __restrict__ shift, float* out, int n) {
  const int i = blockIdx.x * C::THREADS + threadIdx.x, img = blockIdx.y;
  if (i >= C::C * C::HW || img >= n) return;
  const int idx = img * C::C * C::HW + i;
  if (C::OP == OP_SCALESHIFT) {
    const int ch = i / C::HW;
    const float v = fmaf(a[idx], scale[ch], shift[ch]);
    out[idx] = C::RELU ? fmaxf(v, 0.0f) : v;
  } else if (C::OP == OP_RELU) {
    out[idx] = fmaxf(a[idx], 0.0f);
  } else if (C::OP == OP_ADD) {
    out[idx] = a[idx] + b[idx];
  } else if (C::OP == OP_GATE) {
    out[idx] += a[idx] * grcc_sigmoid(b[idx] + c[idx]);
  } else {
    out[idx] += a[idx];
  }
}
