// 2x2 max-pooling with stride 2 over channel-last (NHWC) feature maps.
//
// Output (H/2, W/2, C) (floor: an odd last row or column is not pooled). Each output takes the
// largest of its four inputs, scanned in the order (0,0), (0,1), (1,0), (1,1) with a strict `>`,
// so a tie goes to the first of them; the backward pass routes the gradient to that one input
// only (the others, and an unpooled last row or column, get 0). In the networks pooling follows
// a ReLU, where ties are between zeros whose gradient the ReLU mask discards anyway.
//
// No argmax is stored: the backward pass finds the chosen input again as the first of the four
// that equals the output (the output is a copy of it, so the comparison is exact).

// The fast kernels walk one pair of input rows per output row with running pointers (no index
// products per window) and are inlined once with C = 16 as a constant (the CNN's first pooling:
// one vector per window position, the four inputs at fixed offsets) and once for any C. They do
// the same comparisons in the same order as the references, so the results are the same bits
// (`CNNKernelBitTests`).

/// out (B, H/2, W/2, C) from input (B, H, W, C); with `reluInput`, from relu(input), each input
/// replaced by `x > 0 ? x : 0` (as `reluForward` would store it) as it is loaded: the CNN's probe
/// pass, whose convolution output is read by nothing but the pool, saves the pass that would
/// store the ReLU.
func maxPool2x2Forward(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                       batch B: Int, height H: Int, width W: Int, channels C: Int, reluInput: Bool = false) {
    switch (C == 16, reluInput) {
    case (true, false): maxPoolForwardRows(out, input, batch: B, height: H, width: W, channels: 16, relu: false)
    case (true, true): maxPoolForwardRows(out, input, batch: B, height: H, width: W, channels: 16, relu: true)
    case (false, false): maxPoolForwardRows(out, input, batch: B, height: H, width: W, channels: C, relu: false)
    case (false, true): maxPoolForwardRows(out, input, batch: B, height: H, width: W, channels: C, relu: true)
    }
}

/// The loops of `maxPool2x2Forward`, inlined per `C` and `relu`.
@inline(__always)
private func maxPoolForwardRows(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                                batch B: Int, height H: Int, width W: Int, channels C: Int, relu: Bool) {
    let zero = SIMD16<Float>()
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        let v = load16(p)
        return relu ? v.replacing(with: zero, where: .!(v .> zero)) : v
    }
    @inline(__always) func scalar(_ x: Float) -> Float { relu ? (x > 0 ? x : 0) : x }
    let (OH, OW) = (H / 2, W / 2)
    let rowIn = W &* C, vectorEnd = C / 16 * 16
    var y = out
    for b in 0..<B {
        var r0 = input + b &* (H &* rowIn)
        for _ in 0..<OH {
            let r1 = r0 + rowIn
            var x0 = r0, x1 = r1
            for _ in 0..<OW {
                var c = 0
                while c < vectorEnd {
                    var best = load(x0 + c)
                    var v = load(x0 + (C &+ c)); best.replace(with: v, where: v .> best)
                    v = load(x1 + c); best.replace(with: v, where: v .> best)
                    v = load(x1 + (C &+ c)); best.replace(with: v, where: v .> best)
                    store16(best, y + c)
                    c &+= 16
                }
                while c < C {
                    var best = scalar(x0[c])
                    var v = scalar(x0[C &+ c]); if v > best { best = v }
                    v = scalar(x1[c]); if v > best { best = v }
                    v = scalar(x1[C &+ c]); if v > best { best = v }
                    y[c] = best
                    c &+= 1
                }
                x0 += 2 &* C; x1 += 2 &* C; y += C
            }
            r0 += 2 &* rowIn
        }
    }
}

/// dinput (B, H, W, C) (overwritten) from dout (B, H/2, W/2, C), given the forward pass's input and
/// output: each window's gradient goes to the first of its four inputs equal to the output.
///
/// `reluMask`: the input is a ReLU's output (x = relu(z)) and dinput is to be masked by that ReLU
/// next (`reluBackward`: dz = z > 0 ? dx : 0, and z > 0 exactly when x > 0). The mask is applied
/// here instead, saving the pass over dinput: the input that takes a window's gradient equals the
/// output y, so its masked gradient is `y > 0 ? g : 0`, and the others are 0 either way (+0, as
/// `reluBackward` writes). The same bits as the two passes (`CNNKernelBitTests`).
func maxPool2x2Backward(_ dinput: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, input: UnsafePointer<Float>,
                        output: UnsafePointer<Float>, batch B: Int, height H: Int, width W: Int, channels C: Int,
                        reluMask: Bool = false) {
    // Every pooled input is written below; only an odd last row or column needs zeroing.
    if H % 2 == 1 || W % 2 == 1 { dinput.update(repeating: 0, count: B * H * W * C) }
    switch (C == 16, reluMask) {
    case (true, false):
        maxPoolBackwardRows(dinput, dout, input: input, output: output, batch: B, height: H, width: W, channels: 16, relu: false)
    case (true, true):
        maxPoolBackwardRows(dinput, dout, input: input, output: output, batch: B, height: H, width: W, channels: 16, relu: true)
    case (false, false):
        maxPoolBackwardRows(dinput, dout, input: input, output: output, batch: B, height: H, width: W, channels: C, relu: false)
    case (false, true):
        maxPoolBackwardRows(dinput, dout, input: input, output: output, batch: B, height: H, width: W, channels: C, relu: true)
    }
}

/// The loops of `maxPool2x2Backward` (after the zeroing), inlined per `C` and `relu` (= `reluMask`).
@inline(__always)
private func maxPoolBackwardRows(_ dinput: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                 output: UnsafePointer<Float>, batch B: Int, height H: Int, width W: Int, channels C: Int,
                                 relu: Bool) {
    let (OH, OW) = (H / 2, W / 2)
    let rowIn = W &* C, vectorEnd = C / 16 * 16
    let zero = SIMD16<Float>()
    var y = output, g = dout
    for b in 0..<B {
        let offset = b &* (H &* rowIn)
        var r0 = input + offset, d0 = dinput + offset
        for _ in 0..<OH {
            var x0 = r0, x1 = r0 + rowIn, dx0 = d0, dx1 = d0 + rowIn
            for _ in 0..<OW {
                var c = 0
                while c < vectorEnd {
                    let yv = load16(y + c)
                    var gv = load16(g + c)
                    if relu { gv.replace(with: zero, where: .!(yv .> zero)) }
                    // The first of the four inputs equal to the output takes the gradient.
                    let t00 = load16(x0 + c) .== yv
                    let t01 = .!t00 .& (load16(x0 + (C &+ c)) .== yv)
                    var free = .!(t00 .| t01)
                    let t10 = free .& (load16(x1 + c) .== yv)
                    free = free .& .!t10
                    let t11 = free .& (load16(x1 + (C &+ c)) .== yv)
                    store16(gv.replacing(with: zero, where: .!t00), dx0 + c)
                    store16(gv.replacing(with: zero, where: .!t01), dx0 + (C &+ c))
                    store16(gv.replacing(with: zero, where: .!t10), dx1 + c)
                    store16(gv.replacing(with: zero, where: .!t11), dx1 + (C &+ c))
                    c &+= 16
                }
                while c < C {
                    var free = true
                    let gc: Float = relu && !(y[c] > 0) ? 0 : g[c]
                    @inline(__always) func route(_ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
                        let take = free && x.pointee == y[c]
                        dx.pointee = take ? gc : 0
                        if take { free = false }
                    }
                    route(x0 + c, dx0 + c); route(x0 + (C &+ c), dx0 + (C &+ c))
                    route(x1 + c, dx1 + c); route(x1 + (C &+ c), dx1 + (C &+ c))
                    c &+= 1
                }
                x0 += 2 &* C; x1 += 2 &* C; dx0 += 2 &* C; dx1 += 2 &* C; y += C; g += C
            }
            r0 += 2 &* rowIn; d0 += 2 &* rowIn
        }
    }
}

/// The reference of `maxPool2x2Forward` (its first version, kept to test the fast one bit for bit).
func maxPool2x2ForwardReference(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                       batch B: Int, height H: Int, width W: Int, channels C: Int) {
    let (OH, OW) = (H / 2, W / 2)
    let inSize = H * W * C, outSize = OH * OW * C
    for b in 0..<B {
        let x = input + b * inSize
        for oh in 0..<OH {
            for ow in 0..<OW {
                let x00 = x + ((2 * oh) * W + 2 * ow) * C
                let x01 = x00 + C, x10 = x00 + W * C, x11 = x10 + C
                let y = out + b * outSize + (oh * OW + ow) * C
                var c = 0
                while c + 16 <= C {
                    var best = load16(x00 + c)
                    var v = load16(x01 + c); best.replace(with: v, where: v .> best)
                    v = load16(x10 + c); best.replace(with: v, where: v .> best)
                    v = load16(x11 + c); best.replace(with: v, where: v .> best)
                    store16(best, y + c)
                    c += 16
                }
                while c < C {
                    var best = x00[c]
                    if x01[c] > best { best = x01[c] }
                    if x10[c] > best { best = x10[c] }
                    if x11[c] > best { best = x11[c] }
                    y[c] = best
                    c += 1
                }
            }
        }
    }
}

/// The reference of `maxPool2x2Backward` (its first version, kept to test the fast one bit for bit).
func maxPool2x2BackwardReference(_ dinput: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, input: UnsafePointer<Float>,
                        output: UnsafePointer<Float>, batch B: Int, height H: Int, width W: Int, channels C: Int) {
    let (OH, OW) = (H / 2, W / 2)
    let inSize = H * W * C, outSize = OH * OW * C
    // Every pooled input is written below; only an odd last row or column needs zeroing.
    if H % 2 == 1 || W % 2 == 1 { dinput.update(repeating: 0, count: B * inSize) }
    let zero = SIMD16<Float>()
    for b in 0..<B {
        let x = input + b * inSize, dx = dinput + b * inSize
        for oh in 0..<OH {
            for ow in 0..<OW {
                let o00 = ((2 * oh) * W + 2 * ow) * C
                let o01 = o00 + C, o10 = o00 + W * C, o11 = o10 + C
                let j = b * outSize + (oh * OW + ow) * C
                let y = output + j, g = dout + j
                var c = 0
                while c + 16 <= C {
                    let yv = load16(y + c), gv = load16(g + c)
                    var free = SIMDMask<SIMD16<Int32>>(repeating: true)  // no input of the window chosen yet
                    for offset in [o00, o01, o10, o11] {
                        let take = free .& (load16(x + offset + c) .== yv)
                        store16(gv.replacing(with: zero, where: .!take), dx + offset + c)
                        free = free .& .!take
                    }
                    c += 16
                }
                while c < C {
                    var free = true
                    for offset in [o00, o01, o10, o11] {
                        let take = free && x[offset + c] == y[c]
                        dx[offset + c] = take ? g[c] : 0
                        if take { free = false }
                    }
                    c += 1
                }
            }
        }
    }
}

/// Naive reference in Double: (B, H, W, C) -> (B, H/2, W/2, C), first maximum on ties.
public func maxPool2x2Naive(_ input: [Double], batch B: Int, height H: Int, width W: Int, channels C: Int) -> [Double] {
    let (OH, OW) = (H / 2, W / 2)
    var out = [Double](repeating: 0, count: B * OH * OW * C)
    for b in 0..<B {
        for oh in 0..<OH {
            for ow in 0..<OW {
                for c in 0..<C {
                    var best = -Double.infinity
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let v = input[((b * H + 2 * oh + dy) * W + 2 * ow + dx) * C + c]
                        if v > best { best = v }
                    }
                    out[((b * OH + oh) * OW + ow) * C + c] = best
                }
            }
        }
    }
    return out
}
