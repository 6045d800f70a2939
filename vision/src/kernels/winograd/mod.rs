//! 3x3 stride-1 convolutions, forward and backward, with Winograd's F(4x4, 3x3): a quarter of
//! the multiplications of `im2col` + gemm.
//!
//! Each 4x4 block of outputs (a *tile*) depends on a 6x6 window of the input. Transformed (see
//! [`transform`]), the window and the kernel meet in 36 element-wise products summed over input
//! channels: for each of the 36 transform positions, one matrix product
//!
//! `M[pos] (tiles x oc) = V[pos] (tiles x c) @ U[pos] (c x oc)`,
//!
//! where `V` holds the transformed input windows and `U` the transformed kernels. The output
//! transform then turns `M` back into 4x4 tiles. The backward runs the same pieces transposed:
//!
//! - input gradient: `dM = A dY Aᵀ`, `dV[pos] = dM[pos] @ U[pos]ᵀ`, then `B dV Bᵀ` added back
//!   onto the overlapping 6x6 windows;
//! - weight gradient: `dU[pos] += V[pos]ᵀ @ dM[pos]` over all tiles, then `Gᵀ dU G`.
//!
//! Every buffer here is channels-last (`[.., channel]`, channels padded to [`LANES`]), so that
//! the transforms run on whole vectors; images are turned from and back to NCHW once per pass.
//! Images are handled in blocks of about [`TARGET_TILES`] tiles, so that a block's `V` and `M`
//! stay in cache between the transforms and the products.
//!
//! The interpolation points' powers (up to 8) cost accuracy: in f32, on the tests' 64-channel
//! layer, the output and both gradients differ from candle's by 2-4e-6 of each result's scale
//! (the tests allow 1e-5).

mod layout;
mod transform;

use candle_core::WithDType;
use dls_foundations::buffers::{Buf, Pooled};

use super::conv2d::{chunk_len, gemm, map_jobs, run_jobs, transpose};
use super::im2col::ConvGeometry;
use super::scratch::Scratch;
use layout::{from_channels_last, to_channels_last};
use transform::{Lanes, LANES};

/// Transform positions per tile: 6x6.
const POSITIONS: usize = 36;

/// Fewest input and output channels for the Winograd path: the products' inner and outer sizes.
const MIN_CHANNELS: usize = 32;

/// Fewest tiles in a call for the Winograd path. The transformed kernels are four times the size
/// of the kernels and are written, then read by the products, at memory speed; each tile saves
/// `108 c oc` multiply-adds against im2col. Below about 30 tiles the kernels' transform costs
/// more than the products save: ResNet-18's ImageNet forward at batch 1 (stage 4 on 7x7 maps,
/// 4 tiles) took 90 ms with Winograd in every 3x3 layer, against 52 ms on im2col alone.
const MIN_TILES: usize = 32;

/// Tiles a block of images aims for: enough rows for the products to run near full speed, few
/// enough that a block's transformed inputs and products stay in cache.
const TARGET_TILES: usize = 128;

impl ConvGeometry {
    /// Whether this convolution runs as Winograd F(4x4, 3x3): a 3x3 kernel, stride 1, no
    /// dilation, one group, at least [`MIN_CHANNELS`] input and output channels, and at least
    /// [`MIN_TILES`] 4x4 output tiles over the batch.
    pub(super) fn is_winograd(&self) -> bool {
        self.k == 3
            && self.stride == 1
            && self.dilation == 1
            && self.groups == 1
            && self.c >= MIN_CHANNELS
            && self.oc >= MIN_CHANNELS
            && self.n * self.oh.div_ceil(4) * self.ow.div_ceil(4) >= MIN_TILES
    }
}

/// The lanes at `at..at + LANES` of `buf`.
#[inline(always)]
fn lanes<T>(buf: &[T], at: usize) -> &Lanes<T> {
    buf[at..at + LANES].try_into().unwrap_or_else(|_| unreachable!("a slice of LANES values"))
}

/// The lanes at `at..at + LANES` of `buf`, to write.
#[inline(always)]
fn lanes_mut<T>(buf: &mut [T], at: usize) -> &mut Lanes<T> {
    (&mut buf[at..at + LANES]).try_into().unwrap_or_else(|_| unreachable!("a slice of LANES values"))
}

/// The sizes of one Winograd call: tiles, padded buffers, blocks.
#[derive(Clone, Copy, Debug)]
struct Tiles {
    g: ConvGeometry,
    /// Tile rows and columns per image.
    th: usize,
    tw: usize,
    /// Rows and columns of the zero-padded input every tile's window fits in: `4 th + 2`, `4 tw + 2`.
    hp: usize,
    wp: usize,
    /// Input and output channels rounded up to whole [`LANES`]: the channel stride of every buffer.
    cp: usize,
    kp: usize,
    /// Images per block, and the tile capacity of a block's `V` and `M`.
    block: usize,
    capacity: usize,
}

impl Tiles {
    fn new(g: &ConvGeometry) -> Self {
        let (th, tw) = (g.oh.div_ceil(4), g.ow.div_ceil(4));
        let tiles = (th * tw).max(1);
        let block = TARGET_TILES.div_ceil(tiles).clamp(1, chunk_len(g.n));
        Tiles {
            g: *g,
            th,
            tw,
            hp: 4 * th + 2,
            wp: 4 * tw + 2,
            cp: g.c.next_multiple_of(LANES),
            kp: g.oc.next_multiple_of(LANES),
            block,
            capacity: block * tiles,
        }
    }

    fn tiles(&self) -> usize {
        self.th * self.tw
    }

    /// Values of the padded input image (also the input gradient's).
    fn image_len(&self) -> usize {
        self.hp * self.wp * self.cp
    }

    /// Values of the output grid: `4 th x 4 tw` positions of `kp` channels.
    fn grid_len(&self) -> usize {
        16 * self.tiles() * self.kp
    }

    /// Values of one task's scratch: a padded image, a block's `V` and `M`, an output grid.
    fn scratch_len(&self) -> usize {
        self.image_len() + POSITIONS * self.capacity * (self.cp + self.kp) + self.grid_len()
    }

    /// One task's scratch cut into its four buffers: `(image, v, m, grid)`.
    fn split<'a, T>(&self, buf: &'a mut [T]) -> (&'a mut [T], &'a mut [T], &'a mut [T], &'a mut [T]) {
        let (image, rest) = buf.split_at_mut(self.image_len());
        let (v, rest) = rest.split_at_mut(POSITIONS * self.capacity * self.cp);
        let (m, grid) = rest.split_at_mut(POSITIONS * self.capacity * self.kp);
        (image, v, m, &mut grid[..self.grid_len()])
    }

    /// Whether channel padding leaves lanes the products never write, which must then hold zeros
    /// rather than stale values (a stale NaN would only reach discarded lanes, but a stale
    /// subnormal slows every operation on its vector).
    fn has_padding(&self) -> bool {
        self.cp != self.g.c || self.kp != self.g.oc
    }

    /// Ranges of image indices that one block covers, within `first..last`.
    fn blocks(&self, first: usize, last: usize) -> impl Iterator<Item = (usize, usize)> {
        let len = self.block;
        (first..last).step_by(len).map(move |s| (s, (s + len).min(last)))
    }

    /// `U = G g Gᵀ` for every kernel, laid out `[pos][c][kp]`.
    #[inline(always)]
    fn weight_transform<T: WithDType + Pooled>(&self, w: &[T]) -> Buf<T> {
        let (c, oc, kp, cp) = (self.g.c, self.g.oc, self.kp, self.cp);
        // The kernels channels-last: wt[(ci * 9 + tap) * kp + o] = w[o][ci][tap]. Recycled
        // buffers: at ResNet's stage 4 these are 9 and 38 MB, and fresh pages cost more than
        // the transform.
        let mut wt = Buf::<T>::filled(c * 9 * kp);
        if kp != oc {
            wt.fill(T::zero());
        }
        transpose(w, (oc, c * 9), (c * 9, kp), &mut wt);
        let mut u = Buf::<T>::filled(POSITIONS * cp * kp);
        if cp != c {
            u.fill(T::zero());
        }
        for ci in 0..c {
            for k0 in (0..kp).step_by(LANES) {
                transform::weight_tile(
                    #[inline(always)]
                    |i, j| lanes(&wt, (ci * 9 + i * 3 + j) * kp + k0),
                    #[inline(always)]
                    |pos, v| *lanes_mut(&mut u, (pos * cp + ci) * kp + k0) = *v,
                );
            }
        }
        u
    }

    /// `dW = Gᵀ dU G` for `dU` laid out as [`Tiles::weight_transform`]'s result, as `[oc][c][3][3]`.
    #[inline(always)]
    fn weight_adjoint<T: WithDType + Pooled>(&self, du: &[T]) -> Vec<T> {
        let (c, oc, kp, cp) = (self.g.c, self.g.oc, self.kp, self.cp);
        let mut dwt = Buf::<T>::filled(c * 9 * kp);
        for ci in 0..c {
            for k0 in (0..kp).step_by(LANES) {
                transform::weight_adjoint_tile(
                    #[inline(always)]
                    |pos| lanes(du, (pos * cp + ci) * kp + k0),
                    #[inline(always)]
                    |i, j, g| *lanes_mut(&mut dwt, (ci * 9 + i * 3 + j) * kp + k0) = *g,
                );
            }
        }
        let mut dw = vec![T::zero(); oc * c * 9];
        transpose(&dwt, (c * 9, oc), (kp, c * 9), &mut dw);
        dw
    }

    /// Calls `f(ti, tj, p, l0)` for every tile `(ti, tj)` of one image, `p` being its row in the
    /// block's `V` or `M` (the image's tiles start at row `first`), and for every block of lanes
    /// `l0..l0 + LANES` of `width` channels.
    #[inline(always)]
    fn each_tile(&self, first: usize, width: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        for ti in 0..self.th {
            for tj in 0..self.tw {
                for l0 in (0..width).step_by(LANES) {
                    f(ti, tj, first + ti * self.tw + tj, l0);
                }
            }
        }
    }

    /// `V` of one padded image's tiles, at tile `first` of the block.
    #[inline(always)]
    fn input_transform<T: WithDType>(&self, image: &[T], first: usize, v: &mut [T]) {
        let (wp, cp, cap) = (self.wp, self.cp, self.capacity);
        self.each_tile(
            first,
            cp,
            #[inline(always)]
            |ti, tj, p, c0| {
                transform::input_tile(
                    #[inline(always)]
                    |r, s| lanes(image, ((4 * ti + r) * wp + 4 * tj + s) * cp + c0),
                    #[inline(always)]
                    |pos, val| *lanes_mut(v, (pos * cap + p) * cp + c0) = *val,
                )
            },
        );
    }

    /// One image's output grid from the products `M` of its tiles, at tile `first` of the block.
    #[inline(always)]
    fn output_transform<T: WithDType>(&self, m: &[T], first: usize, grid: &mut [T]) {
        let (gw, kp, cap) = (4 * self.tw, self.kp, self.capacity);
        self.each_tile(
            first,
            kp,
            #[inline(always)]
            |ti, tj, p, k0| {
                transform::output_tile(
                    #[inline(always)]
                    |pos| lanes(m, (pos * cap + p) * kp + k0),
                    #[inline(always)]
                    |o, q, val| *lanes_mut(grid, ((4 * ti + o) * gw + 4 * tj + q) * kp + k0) = *val,
                )
            },
        );
    }

    /// `dM = A dY Aᵀ` of one image's output-gradient grid, at tile `first` of the block.
    #[inline(always)]
    fn output_adjoint<T: WithDType>(&self, grid: &[T], first: usize, m: &mut [T]) {
        let (gw, kp, cap) = (4 * self.tw, self.kp, self.capacity);
        self.each_tile(
            first,
            kp,
            #[inline(always)]
            |ti, tj, p, k0| {
                transform::output_adjoint_tile(
                    #[inline(always)]
                    |o, q| lanes(grid, ((4 * ti + o) * gw + 4 * tj + q) * kp + k0),
                    #[inline(always)]
                    |pos, val| *lanes_mut(m, (pos * cap + p) * kp + k0) = *val,
                )
            },
        );
    }

    /// `B dV Bᵀ` of one image's tiles, added onto its padded input gradient `image`.
    #[inline(always)]
    fn input_adjoint<T: WithDType>(&self, v: &[T], first: usize, image: &mut [T]) {
        let (wp, cp, cap) = (self.wp, self.cp, self.capacity);
        self.each_tile(
            first,
            cp,
            #[inline(always)]
            |ti, tj, p, c0| {
                transform::input_adjoint_tile(
                    #[inline(always)]
                    |pos| lanes(v, (pos * cap + p) * cp + c0),
                    #[inline(always)]
                    |r, s, val| {
                        let dst = lanes_mut(image, ((4 * ti + r) * wp + 4 * tj + s) * cp + c0);
                        for (d, &g) in dst.iter_mut().zip(val) {
                            *d += g;
                        }
                    },
                )
            },
        );
    }

    /// The padded, channels-last copy of image `img` of `x`.
    #[inline(always)]
    fn load_image<T: WithDType>(&self, x: &[T], img: usize, image: &mut [T]) {
        let g = &self.g;
        let len = g.c * g.h * g.w;
        to_channels_last(
            &x[img * len..][..len],
            (g.c, g.h, g.w),
            image,
            (self.hp, self.wp, self.cp),
            (g.top, g.left),
        );
    }

    /// The channels-last output-gradient grid of image `img` of `dy`, zero past the output.
    #[inline(always)]
    fn load_grad<T: WithDType>(&self, dy: &[T], img: usize, grid: &mut [T]) {
        let g = &self.g;
        let len = g.oc * g.out_plane();
        to_channels_last(
            &dy[img * len..][..len],
            (g.oc, g.oh, g.ow),
            grid,
            (4 * self.th, 4 * self.tw, self.kp),
            (0, 0),
        );
    }

    /// `V` of images `start..end` (a block), each first copied into `image`.
    #[inline(always)]
    fn block_inputs<T: WithDType>(
        &self,
        x: &[T],
        (start, end): (usize, usize),
        image: &mut [T],
        v: &mut [T],
    ) {
        for (j, img) in (start..end).enumerate() {
            self.load_image(x, img, image);
            self.input_transform(image, j * self.tiles(), v);
        }
    }

    /// `dM` of images `start..end` (a block), each first copied into `grid`.
    #[inline(always)]
    fn block_grads<T: WithDType>(&self, dy: &[T], (start, end): (usize, usize), grid: &mut [T], m: &mut [T]) {
        for (j, img) in (start..end).enumerate() {
            self.load_grad(dy, img, grid);
            self.output_adjoint(grid, j * self.tiles(), m);
        }
    }

    /// The output of images `first..` into `ys`.
    #[inline(always)]
    fn forward_chunk<T: WithDType>(
        &self,
        (x, u, bias): (&[T], &[T], Option<&[T]>),
        first: usize,
        ys: &mut [T],
        buf: &mut [T],
    ) {
        let g = &self.g;
        let (image, v, m, grid) = self.split(buf);
        let out_len = g.oc * g.out_plane();
        for block @ (start, end) in self.blocks(first, first + ys.len() / out_len) {
            self.block_inputs(x, block, image, v);
            let rows = (end - start) * self.tiles();
            for pos in 0..POSITIONS {
                let (vp, up) = (&v[pos * self.capacity * self.cp..], &u[pos * self.cp * self.kp..]);
                let mp = &mut m[pos * self.capacity * self.kp..];
                // SAFETY: mp holds rows x kp, vp rows x cp, up c x kp, all row-major.
                unsafe {
                    gemm(
                        (rows, g.oc, g.c),
                        (mp.as_mut_ptr(), self.kp, 1),
                        false,
                        (vp.as_ptr(), self.cp, 1),
                        (up.as_ptr(), self.kp, 1),
                    )
                };
            }
            for (j, img) in (start..end).enumerate() {
                self.output_transform(m, j * self.tiles(), grid);
                let dst = &mut ys[(img - first) * out_len..][..out_len];
                from_channels_last(
                    grid,
                    (4 * self.th, 4 * self.tw, self.kp),
                    (0, 0),
                    dst,
                    (g.oc, g.oh, g.ow),
                    bias,
                );
            }
        }
    }

    /// The input gradient of the block `start..end` into `dxs` (which starts at image `first`),
    /// from the block's `dM` in `m`; `v` and `image` are overwritten.
    #[inline(always)]
    fn block_grad_input<T: WithDType>(
        &self,
        u: &[T],
        (first, (start, end)): (usize, (usize, usize)),
        (image, v, m): (&mut [T], &mut [T], &[T]),
        dxs: &mut [T],
    ) {
        let g = &self.g;
        let in_len = g.c * g.h * g.w;
        let rows = (end - start) * self.tiles();
        for pos in 0..POSITIONS {
            let (mp, up) = (&m[pos * self.capacity * self.kp..], &u[pos * self.cp * self.kp..]);
            let vp = &mut v[pos * self.capacity * self.cp..];
            // SAFETY: vp holds rows x cp, mp rows x kp, upᵀ is oc x c (column stride kp).
            unsafe {
                gemm(
                    (rows, g.c, g.oc),
                    (vp.as_mut_ptr(), self.cp, 1),
                    false,
                    (mp.as_ptr(), self.kp, 1),
                    (up.as_ptr(), 1, self.kp),
                )
            };
        }
        for (j, img) in (start..end).enumerate() {
            image.fill(T::zero());
            self.input_adjoint(v, j * self.tiles(), image);
            let dst = &mut dxs[(img - first) * in_len..][..in_len];
            from_channels_last(
                image,
                (self.hp, self.wp, self.cp),
                (g.top, g.left),
                dst,
                (g.c, g.h, g.w),
                None,
            );
        }
    }

    /// Adds the block's `Vᵀ dM` to `du` (or writes it there, for a chunk's first block).
    #[inline(always)]
    fn block_grad_weight<T: WithDType>(
        &self,
        rows: usize,
        first_block: bool,
        (v, m): (&[T], &[T]),
        du: &mut [T],
    ) {
        let g = &self.g;
        for pos in 0..POSITIONS {
            let (vp, mp) = (&v[pos * self.capacity * self.cp..], &m[pos * self.capacity * self.kp..]);
            let dp = &mut du[pos * self.cp * self.kp..];
            // SAFETY: dp holds c x kp, vpᵀ is c x rows (column stride cp), mp rows x kp.
            unsafe {
                gemm(
                    (g.c, g.oc, rows),
                    (dp.as_mut_ptr(), self.kp, 1),
                    !first_block,
                    (vp.as_ptr(), 1, self.cp),
                    (mp.as_ptr(), self.kp, 1),
                )
            };
        }
    }

    /// The input gradient of images `first..` into `dxs`.
    #[inline(always)]
    fn grad_input_chunk<T: WithDType>(
        &self,
        (dy, u): (&[T], &[T]),
        first: usize,
        dxs: &mut [T],
        buf: &mut [T],
    ) {
        let (image, v, m, grid) = self.split(buf);
        let in_len = self.g.c * self.g.h * self.g.w;
        for block in self.blocks(first, first + dxs.len() / in_len) {
            self.block_grads(dy, block, grid, m);
            self.block_grad_input(u, (first, block), (image, v, m), dxs);
        }
    }

    /// `dU` (laid out as [`Tiles::weight_transform`]'s result) summed over images
    /// `first..first + count` into `du` (whose previous values are overwritten).
    #[inline(always)]
    fn grad_weight_chunk<T: WithDType>(
        &self,
        (dy, x): (&[T], &[T]),
        (first, count): (usize, usize),
        du: &mut [T],
        buf: &mut [T],
    ) {
        let (image, v, m, grid) = self.split(buf);
        for (step, block @ (start, end)) in self.blocks(first, first + count).enumerate() {
            self.block_inputs(x, block, image, v);
            self.block_grads(dy, block, grid, m);
            self.block_grad_weight((end - start) * self.tiles(), step == 0, (v, m), du);
        }
    }

    /// Both gradients of images `first..` in one walk: the input gradient into `dxs`, `dU` into
    /// `du` (as [`Tiles::grad_weight_chunk`]). Each block's `dM` is built once for the two.
    #[inline(always)]
    fn grads_chunk<T: WithDType>(
        &self,
        (dy, x, u): (&[T], &[T], &[T]),
        first: usize,
        (dxs, du): (&mut [T], &mut [T]),
        buf: &mut [T],
    ) {
        let (image, v, m, grid) = self.split(buf);
        let in_len = self.g.c * self.g.h * self.g.w;
        for (step, block @ (start, end)) in self.blocks(first, first + dxs.len() / in_len).enumerate() {
            self.block_grads(dy, block, grid, m);
            self.block_grad_input(u, (first, block), (image, v, m), dxs);
            self.block_inputs(x, block, image, v);
            self.block_grad_weight((end - start) * self.tiles(), step == 0, (v, m), du);
        }
    }
}

/// Runs `f` with one task's scratch, zeroed first when channel padding needs it, compiled wide
/// (`f` must be `#[inline(always)]` for its loops to be compiled wide too).
#[inline(always)]
fn with_task_scratch<T: Scratch, R>(t: &Tiles, f: impl FnOnce(&mut [T]) -> R) -> R {
    T::with_scratch(t.scratch_len(), |buf| {
        if t.has_padding() {
            buf.fill(T::zero());
        }
        dls_foundations::simd::wide(
            #[inline(always)]
            || f(buf),
        )
    })
}

impl ConvGeometry {
    /// Values of the transformed kernels [`ConvGeometry::winograd_weights`] gives.
    pub(super) fn winograd_weights_len(&self) -> usize {
        let t = Tiles::new(self);
        POSITIONS * t.cp * t.kp
    }

    /// The transformed kernels `U` of `w` `[oc, c, 3, 3]`, which the forward and the input
    /// gradient both need (a caller may keep them from one for the other).
    pub(super) fn winograd_weights<T: WithDType + Pooled>(&self, w: &[T]) -> Buf<T> {
        let t = Tiles::new(self);
        dls_foundations::simd::wide(
            #[inline(always)]
            || t.weight_transform(w),
        )
    }

    /// The output `[n, oc, oh, ow]` (see the module docs), from the transformed kernels `u`.
    pub(super) fn winograd_forward<T: Scratch>(&self, x: &[T], u: &[T], bias: Option<&[T]>) -> Vec<T> {
        let t = Tiles::new(self);
        let out_len = self.oc * self.out_plane();
        let mut y = vec![T::zero(); self.n * out_len];
        let per = chunk_len(self.n);
        let jobs: Vec<_> = y.chunks_mut(per * out_len).enumerate().collect();
        run_jobs(jobs, |(chunk, ys)| {
            with_task_scratch(
                &t,
                #[inline(always)]
                |buf| t.forward_chunk((x, u, bias), chunk * per, ys, buf),
            )
        });
        y
    }

    /// The input gradient `[n, c, h, w]` for the output gradient `dy`, from the transformed
    /// kernels `u`.
    pub(super) fn winograd_grad_input<T: Scratch>(&self, dy: &[T], u: &[T]) -> Vec<T> {
        let t = Tiles::new(self);
        let in_len = self.c * self.h * self.w;
        let mut dx = vec![T::zero(); self.n * in_len];
        let per = chunk_len(self.n);
        let jobs: Vec<_> = dx.chunks_mut(per * in_len).enumerate().collect();
        run_jobs(jobs, |(chunk, dxs)| {
            with_task_scratch(
                &t,
                #[inline(always)]
                |buf| t.grad_input_chunk((dy, u), chunk * per, dxs, buf),
            )
        });
        dx
    }

    /// The weight gradient `[oc, c, 3, 3]` for the output gradient `dy` and input `x`: one `dU`
    /// per task, added in task order (so results do not depend on scheduling), then transformed
    /// back once.
    pub(super) fn winograd_grad_weight<T: Scratch + Pooled>(&self, dy: &[T], x: &[T]) -> Vec<T> {
        let t = Tiles::new(self);
        let per = chunk_len(self.n);
        let jobs: Vec<usize> = (0..self.n).step_by(per).collect();
        let partials = map_jobs(jobs, |first| {
            let mut du = t.partial_du();
            let count = per.min(self.n - first);
            with_task_scratch(
                &t,
                #[inline(always)]
                |buf| t.grad_weight_chunk((dy, x), (first, count), &mut du, buf),
            );
            du
        });
        t.sum_weight_grads(partials)
    }

    /// Both gradients, `(dx, dw)`, in one walk over the batch: the output gradient's transform
    /// `dM` (and its channels-last copy) is built once instead of once per gradient.
    pub(super) fn winograd_grads<T: Scratch + Pooled>(&self, dy: &[T], x: &[T], u: &[T]) -> (Vec<T>, Vec<T>) {
        let t = Tiles::new(self);
        let in_len = self.c * self.h * self.w;
        let mut dx = vec![T::zero(); self.n * in_len];
        let per = chunk_len(self.n);
        let jobs: Vec<_> = dx.chunks_mut(per * in_len).enumerate().collect();
        let partials = map_jobs(jobs, |(chunk, dxs)| {
            let mut du = t.partial_du();
            with_task_scratch(
                &t,
                #[inline(always)]
                |buf| t.grads_chunk((dy, x, u), chunk * per, (dxs, &mut du), buf),
            );
            du
        });
        (dx, t.sum_weight_grads(partials))
    }
}

impl Tiles {
    /// A task's `dU` buffer, cleared only for padding lanes: the first block's products
    /// overwrite the rest.
    fn partial_du<T: WithDType + Pooled>(&self) -> Buf<T> {
        let mut du = Buf::<T>::filled(POSITIONS * self.cp * self.kp);
        if self.has_padding() {
            du.fill(T::zero());
        }
        du
    }

    /// The tasks' `dU` added in task order, transformed back to `[oc, c, 3, 3]`.
    fn sum_weight_grads<T: WithDType + Pooled>(&self, partials: Vec<Buf<T>>) -> Vec<T> {
        let mut parts = partials.into_iter();
        let Some(mut du) = parts.next() else {
            return vec![T::zero(); self.g.oc * self.g.c * 9];
        };
        for part in parts {
            for (d, &p) in du.iter_mut().zip(part.iter()) {
                *d += p;
            }
        }
        dls_foundations::simd::wide(
            #[inline(always)]
            || self.weight_adjoint(&du),
        )
    }
}
