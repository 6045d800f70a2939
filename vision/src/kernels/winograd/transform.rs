//! The four one-dimensional transforms of Winograd's F(4, 3) (Lavin and Gray, "Fast Algorithms
//! for Convolutional Neural Networks", 2016, interpolation points 0, ±1, ±2 and ∞), their
//! adjoints for the backward pass, and the 6x6 tile transforms built from them.
//!
//! For one input channel, a 6x6 input tile `d` and a 3x3 kernel `g` give the 4x4 outputs of
//! their correlation as `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: 36 multiplications where the direct
//! sum takes 144. Summed over channels, the element-wise product becomes 36 matrix products,
//! one per tile position `(ξ, ν)`, and those carry almost all of the work.
//!
//! Every function works on [`LANES`] values at once, one per channel (the lanes are the
//! innermost, contiguous axis of every buffer), so each line compiles to whole-vector
//! instructions. The matrices' zeros are left out by hand: the compiler may not drop a
//! multiplication by zero (it is not exact for infinities and NaNs).

#![allow(clippy::needless_range_loop)] // the tile transforms index `columns[s][xi]` by the inner index

use candle_core::WithDType;

/// Values processed together: one channel each, the innermost axis of every buffer.
pub(crate) const LANES: usize = 16;

/// One value per lane.
pub(crate) type Lanes<T> = [T; LANES];

/// `[f(0), .., f(LANES - 1)]`. (`std::array::from_fn` is not always inlined, and a call per
/// lane costs more than the arithmetic.)
#[inline(always)]
fn map<T: WithDType>(f: impl Fn(usize) -> T) -> Lanes<T> {
    let mut out = [T::zero(); LANES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(i);
    }
    out
}

/// `[f(0), .., f(5)]`, written out so that it is always inlined.
#[inline(always)]
fn six<X>(f: impl Fn(usize) -> X) -> [X; 6] {
    [f(0), f(1), f(2), f(3), f(4), f(5)]
}

/// `[f(0), .., f(3)]`.
#[inline(always)]
fn four<X>(f: impl Fn(usize) -> X) -> [X; 4] {
    [f(0), f(1), f(2), f(3)]
}

/// `[f(0), f(1), f(2)]`.
#[inline(always)]
fn three<X>(f: impl Fn(usize) -> X) -> [X; 3] {
    [f(0), f(1), f(2)]
}

#[inline(always)]
fn c<T: WithDType>(v: f64) -> T {
    T::from_f64(v)
}

/// `Bᵀ d`: six input values to the six transform-domain values.
#[inline(always)]
pub(crate) fn input_1d<T: WithDType>(d: [&Lanes<T>; 6]) -> [Lanes<T>; 6] {
    let (four, five, two) = (c::<T>(4.0), c::<T>(5.0), c::<T>(2.0));
    [
        map(
            #[inline(always)]
            |i| four * d[0][i] - five * d[2][i] + d[4][i],
        ),
        map(
            #[inline(always)]
            |i| (d[3][i] + d[4][i]) - four * (d[1][i] + d[2][i]),
        ),
        map(
            #[inline(always)]
            |i| (d[4][i] - d[3][i]) + four * (d[1][i] - d[2][i]),
        ),
        map(
            #[inline(always)]
            |i| (d[4][i] - d[2][i]) + two * (d[3][i] - d[1][i]),
        ),
        map(
            #[inline(always)]
            |i| (d[4][i] - d[2][i]) - two * (d[3][i] - d[1][i]),
        ),
        map(
            #[inline(always)]
            |i| four * d[1][i] - five * d[3][i] + d[5][i],
        ),
    ]
}

/// `B v`, the adjoint of [`input_1d`]: transform-domain gradients back to the six inputs.
#[inline(always)]
pub(crate) fn input_adjoint_1d<T: WithDType>(v: [&Lanes<T>; 6]) -> [Lanes<T>; 6] {
    let (four, five, two) = (c::<T>(4.0), c::<T>(5.0), c::<T>(2.0));
    [
        map(
            #[inline(always)]
            |i| four * v[0][i],
        ),
        map(
            #[inline(always)]
            |i| four * (v[2][i] - v[1][i] + v[5][i]) + two * (v[4][i] - v[3][i]),
        ),
        map(
            #[inline(always)]
            |i| zero_minus(five * v[0][i] + four * (v[1][i] + v[2][i]) + v[3][i] + v[4][i]),
        ),
        map(
            #[inline(always)]
            |i| (v[1][i] - v[2][i]) + two * (v[3][i] - v[4][i]) - five * v[5][i],
        ),
        map(
            #[inline(always)]
            |i| v[0][i] + v[1][i] + v[2][i] + v[3][i] + v[4][i],
        ),
        map(
            #[inline(always)]
            |i| v[5][i],
        ),
    ]
}

#[inline(always)]
fn zero_minus<T: WithDType>(v: T) -> T {
    T::zero() - v
}

/// `Aᵀ m`: six transform-domain products to four outputs.
#[inline(always)]
pub(crate) fn output_1d<T: WithDType>(m: [&Lanes<T>; 6]) -> [Lanes<T>; 4] {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let sum12 = map(
        #[inline(always)]
        |i| m[1][i] + m[2][i],
    );
    let dif12 = map(
        #[inline(always)]
        |i| m[1][i] - m[2][i],
    );
    let sum34 = map(
        #[inline(always)]
        |i| m[3][i] + m[4][i],
    );
    let dif34 = map(
        #[inline(always)]
        |i| m[3][i] - m[4][i],
    );
    [
        map(
            #[inline(always)]
            |i| m[0][i] + sum12[i] + sum34[i],
        ),
        map(
            #[inline(always)]
            |i| dif12[i] + two * dif34[i],
        ),
        map(
            #[inline(always)]
            |i| sum12[i] + four * sum34[i],
        ),
        map(
            #[inline(always)]
            |i| dif12[i] + eight * dif34[i] + m[5][i],
        ),
    ]
}

/// `A dy`, the adjoint of [`output_1d`]: four output gradients to six transform-domain ones.
#[inline(always)]
pub(crate) fn output_adjoint_1d<T: WithDType>(dy: [&Lanes<T>; 4]) -> [Lanes<T>; 6] {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let even = map(
        #[inline(always)]
        |i| dy[0][i] + dy[2][i],
    );
    let odd = map(
        #[inline(always)]
        |i| dy[1][i] + dy[3][i],
    );
    let even4 = map(
        #[inline(always)]
        |i| dy[0][i] + four * dy[2][i],
    );
    let odd8 = map(
        #[inline(always)]
        |i| two * dy[1][i] + eight * dy[3][i],
    );
    [
        *dy[0],
        map(
            #[inline(always)]
            |i| even[i] + odd[i],
        ),
        map(
            #[inline(always)]
            |i| even[i] - odd[i],
        ),
        map(
            #[inline(always)]
            |i| even4[i] + odd8[i],
        ),
        map(
            #[inline(always)]
            |i| even4[i] - odd8[i],
        ),
        *dy[3],
    ]
}

/// `G g`: three kernel taps to six transform-domain values.
#[inline(always)]
pub(crate) fn weight_1d<T: WithDType>(g: [&Lanes<T>; 3]) -> [Lanes<T>; 6] {
    let (quarter, sixth) = (c::<T>(0.25), c::<T>(1.0 / 6.0));
    let (twelfth, twenty_fourth) = (c::<T>(1.0 / 12.0), c::<T>(1.0 / 24.0));
    let outer = map(
        #[inline(always)]
        |i| g[0][i] + g[2][i],
    );
    let outer_small = map(
        #[inline(always)]
        |i| twenty_fourth * g[0][i] + sixth * g[2][i],
    );
    [
        map(
            #[inline(always)]
            |i| quarter * g[0][i],
        ),
        map(
            #[inline(always)]
            |i| zero_minus(sixth * (outer[i] + g[1][i])),
        ),
        map(
            #[inline(always)]
            |i| sixth * (g[1][i] - outer[i]),
        ),
        map(
            #[inline(always)]
            |i| outer_small[i] + twelfth * g[1][i],
        ),
        map(
            #[inline(always)]
            |i| outer_small[i] - twelfth * g[1][i],
        ),
        *g[2],
    ]
}

/// `Gᵀ u`, the adjoint of [`weight_1d`]: transform-domain gradients to three kernel taps.
#[inline(always)]
pub(crate) fn weight_adjoint_1d<T: WithDType>(u: [&Lanes<T>; 6]) -> [Lanes<T>; 3] {
    let (quarter, sixth) = (c::<T>(0.25), c::<T>(1.0 / 6.0));
    let (twelfth, twenty_fourth) = (c::<T>(1.0 / 12.0), c::<T>(1.0 / 24.0));
    let sum12 = map(
        #[inline(always)]
        |i| u[1][i] + u[2][i],
    );
    let sum34 = map(
        #[inline(always)]
        |i| u[3][i] + u[4][i],
    );
    [
        map(
            #[inline(always)]
            |i| quarter * u[0][i] - sixth * sum12[i] + twenty_fourth * sum34[i],
        ),
        map(
            #[inline(always)]
            |i| sixth * (u[2][i] - u[1][i]) + twelfth * (u[3][i] - u[4][i]),
        ),
        map(
            #[inline(always)]
            |i| sixth * (sum34[i] - sum12[i]) + u[5][i],
        ),
    ]
}

/// `Bᵀ d B` of the 6x6 tile `d(r, s)`, handing each of the 36 results to `out(6 ξ + ν, ..)`.
#[inline(always)]
pub(crate) fn input_tile<'a, T: WithDType>(
    d: impl Fn(usize, usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 6]; 6] = six(
        #[inline(always)]
        |s| {
            input_1d(six(
                #[inline(always)]
                |r| d(r, s),
            ))
        },
    );
    for xi in 0..6 {
        let row = input_1d(six(
            #[inline(always)]
            |s| &columns[s][xi],
        ));
        for (nu, v) in row.iter().enumerate() {
            out(6 * xi + nu, v);
        }
    }
}

/// `B v Bᵀ` of the 36 transform-domain gradients `v(6 ξ + ν)`, handing each of the 6x6 input
/// gradients to `out(r, s, ..)`.
#[inline(always)]
pub(crate) fn input_adjoint_tile<'a, T: WithDType>(
    v: impl Fn(usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 6]; 6] = six(
        #[inline(always)]
        |nu| {
            input_adjoint_1d(six(
                #[inline(always)]
                |xi| v(6 * xi + nu),
            ))
        },
    );
    for r in 0..6 {
        let row = input_adjoint_1d(six(
            #[inline(always)]
            |nu| &columns[nu][r],
        ));
        for (s, d) in row.iter().enumerate() {
            out(r, s, d);
        }
    }
}

/// `Aᵀ m A` of the 36 products `m(6 ξ + ν)`, handing each of the 4x4 outputs to `out(o, p, ..)`.
#[inline(always)]
pub(crate) fn output_tile<'a, T: WithDType>(
    m: impl Fn(usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 4]; 6] = six(
        #[inline(always)]
        |nu| {
            output_1d(six(
                #[inline(always)]
                |xi| m(6 * xi + nu),
            ))
        },
    );
    for o in 0..4 {
        let row = output_1d(six(
            #[inline(always)]
            |nu| &columns[nu][o],
        ));
        for (p, y) in row.iter().enumerate() {
            out(o, p, y);
        }
    }
}

/// `A dy Aᵀ` of the 4x4 output gradients `dy(o, p)`, handing each of the 36 results to
/// `out(6 ξ + ν, ..)`.
#[inline(always)]
pub(crate) fn output_adjoint_tile<'a, T: WithDType>(
    dy: impl Fn(usize, usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 6]; 4] = four(
        #[inline(always)]
        |p| {
            output_adjoint_1d(four(
                #[inline(always)]
                |o| dy(o, p),
            ))
        },
    );
    for xi in 0..6 {
        let row = output_adjoint_1d(four(
            #[inline(always)]
            |p| &columns[p][xi],
        ));
        for (nu, v) in row.iter().enumerate() {
            out(6 * xi + nu, v);
        }
    }
}

/// `G g Gᵀ` of the 3x3 kernel `g(i, j)`, handing each of the 36 results to `out(6 ξ + ν, ..)`.
#[inline(always)]
pub(crate) fn weight_tile<'a, T: WithDType>(
    g: impl Fn(usize, usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 6]; 3] = three(
        #[inline(always)]
        |j| {
            weight_1d(three(
                #[inline(always)]
                |i| g(i, j),
            ))
        },
    );
    for xi in 0..6 {
        let row = weight_1d(three(
            #[inline(always)]
            |j| &columns[j][xi],
        ));
        for (nu, u) in row.iter().enumerate() {
            out(6 * xi + nu, u);
        }
    }
}

/// `Gᵀ u G` of the 36 transform-domain gradients `u(6 ξ + ν)`, handing each of the 3x3 kernel
/// gradients to `out(i, j, ..)`.
#[inline(always)]
pub(crate) fn weight_adjoint_tile<'a, T: WithDType>(
    u: impl Fn(usize) -> &'a Lanes<T>,
    mut out: impl FnMut(usize, usize, &Lanes<T>),
) {
    let columns: [[Lanes<T>; 3]; 6] = six(
        #[inline(always)]
        |nu| {
            weight_adjoint_1d(six(
                #[inline(always)]
                |xi| u(6 * xi + nu),
            ))
        },
    );
    for i in 0..3 {
        let row = weight_adjoint_1d(six(
            #[inline(always)]
            |nu| &columns[nu][i],
        ));
        for (j, g) in row.iter().enumerate() {
            out(i, j, g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values, different per seed.
    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n).map(|i| (((i * 7919 + seed * 104_729) % 1000) as f64 / 500.0 - 1.0) * 1.3).collect()
    }

    fn lanes(v: f64) -> Lanes<f64> {
        [v; LANES]
    }

    #[test]
    fn tile_transforms_compute_the_correlation() {
        let (d, g) = (values(36, 1), values(9, 2));
        let d_lanes: Vec<Lanes<f64>> = d.iter().map(|&v| lanes(v)).collect();
        let g_lanes: Vec<Lanes<f64>> = g.iter().map(|&v| lanes(v)).collect();
        let mut dt = vec![0.0; 36];
        input_tile(|r, s| &d_lanes[r * 6 + s], |at, v| dt[at] = v[0]);
        let mut gt = vec![0.0; 36];
        weight_tile(|i, j| &g_lanes[i * 3 + j], |at, v| gt[at] = v[0]);
        let m: Vec<Lanes<f64>> = dt.iter().zip(&gt).map(|(a, b)| lanes(a * b)).collect();
        let mut y = [[0.0; 4]; 4];
        output_tile(|at| &m[at], |o, p, v| y[o][p] = v[LANES - 1]);
        for (o, row) in y.iter().enumerate() {
            for (p, &got) in row.iter().enumerate() {
                let want: f64 = (0..9).map(|t| d[(o + t / 3) * 6 + p + t % 3] * g[t]).sum();
                assert!((got - want).abs() < 1e-12, "({o}, {p}): {got} against {want}");
            }
        }
    }

    /// `<T x, y> = <x, Tᵀ y>` for a transform `T` and its adjoint, checked on every basis pair.
    fn check_adjoint<const I: usize, const O: usize>(
        forward: impl Fn([&Lanes<f64>; I]) -> [Lanes<f64>; O],
        adjoint: impl Fn([&Lanes<f64>; O]) -> [Lanes<f64>; I],
    ) {
        let basis = |n: usize, k: usize| -> Vec<Lanes<f64>> {
            (0..n).map(|i| lanes(if i == k { 1.0 } else { 0.0 })).collect()
        };
        for a in 0..I {
            for b in 0..O {
                let x = basis(I, a);
                let y = basis(O, b);
                let tx = forward(std::array::from_fn(|i| &x[i]));
                let ty = adjoint(std::array::from_fn(|i| &y[i]));
                assert_eq!(tx[b][0], ty[a][0], "entry ({b}, {a})");
            }
        }
    }

    #[test]
    fn adjoints_are_the_transposed_transforms() {
        check_adjoint(input_1d::<f64>, input_adjoint_1d::<f64>);
        check_adjoint(output_1d::<f64>, output_adjoint_1d::<f64>);
        check_adjoint(weight_1d::<f64>, weight_adjoint_1d::<f64>);
    }

    #[test]
    fn tile_adjoints_match_their_transforms() {
        // <T(x), y> = <x, Tᵀ(y)> for the 2-D tile transforms, on spread values.
        let x36: Vec<Lanes<f64>> = values(36, 3).into_iter().map(lanes).collect();
        let y36: Vec<Lanes<f64>> = values(36, 4).into_iter().map(lanes).collect();
        let y16: Vec<Lanes<f64>> = values(16, 5).into_iter().map(lanes).collect();
        let x9: Vec<Lanes<f64>> = values(9, 6).into_iter().map(lanes).collect();
        let dot = |a: &[f64], b: &[Lanes<f64>]| a.iter().zip(b).map(|(p, q)| p * q[0]).sum::<f64>();
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9 * (1.0 + a.abs()), "{a} against {b}");

        let mut t = vec![0.0; 36];
        input_tile(|r, s| &x36[r * 6 + s], |at, v| t[at] = v[0]);
        let mut back = vec![0.0; 36];
        input_adjoint_tile(|at| &y36[at], |r, s, v| back[r * 6 + s] = v[0]);
        close(dot(&t, &y36), dot(&back, &x36));

        let mut y = vec![0.0; 16];
        output_tile(|at| &x36[at], |o, p, v| y[o * 4 + p] = v[0]);
        let mut dm = vec![0.0; 36];
        output_adjoint_tile(|o, p| &y16[o * 4 + p], |at, v| dm[at] = v[0]);
        close(dot(&y, &y16), dot(&dm, &x36));

        let mut u = vec![0.0; 36];
        weight_tile(|i, j| &x9[i * 3 + j], |at, v| u[at] = v[0]);
        let mut dg = vec![0.0; 9];
        weight_adjoint_tile(|at| &y36[at], |i, j, v| dg[i * 3 + j] = v[0]);
        close(dot(&u, &y36), dot(&dg, &x9));
    }
}
