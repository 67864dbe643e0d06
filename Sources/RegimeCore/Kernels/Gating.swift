import Foundation

// Kernels of gated (decoupled) training, docs/numerics.md "Gated training". The gated backward
// needs no kernel of its own: `reluBackward(dx, dout, preActivation: gate)` masks by `gate > 0`,
// which is exactly the gate.

/// out = z where the gate is open (gate > 0), else 0, element-wise over `count` values (out may
/// alias z). With the gate equal to the network's own pre-activation (or ReLU output) this is
/// `reluForward`: the same comparison selects the same value or the same +0.
@inline(__always)
func gateForward(_ out: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>, gate: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = gate[i] > 0 ? z[i] : 0 }
}

extension PatternSet {
    /// Writes example `example`'s bits of `layer` as 1 (set) or 0 (clear) into `out`
    /// (`unitsPerExample[layer]` floats): the gate masks of a gated pass from stored gates. Whole
    /// words go 16 lanes at a time with integer lane operations only: lane k of a group takes bit k
    /// (shift and mask), and the bit b in {0, 1} becomes the float's bit pattern `(0 - b) & 0x3F800000`
    /// (1.0 or +0.0). The tail goes bit by bit. `expandNaive` is the reference.
    public func expand(layer: Int, example: Int, into out: UnsafeMutablePointer<Float>) {
        let units = unitsPerExample[layer], perExample = wordsPerExample[layer], whole = units / 64
        let shifts = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let one = SIMD16<UInt32>(repeating: 1), pattern = SIMD16<UInt32>(repeating: Float(1).bitPattern)
        words[layer].withUnsafeBufferPointer { storage in
            let source = storage.baseAddress! + example * perExample
            for w in 0..<whole {
                let word = source[w]
                for q in 0..<4 {
                    let group = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: word >> UInt64(16 * q)))
                    let bit = (group &>> shifts) & one
                    let floats = (SIMD16<UInt32>() &- bit) & pattern  // the bit patterns of 1.0 and +0.0
                    UnsafeMutableRawPointer(out + w * 64 + q * 16).storeBytes(of: floats, as: SIMD16<UInt32>.self)
                }
            }
            if whole < perExample {
                let word = source[whole]
                for u in (whole * 64)..<units { out[u] = (word >> UInt64(u - whole * 64)) & 1 == 1 ? 1 : 0 }
            }
        }
    }

    /// The reference of `expand`: one `bit(layer:example:unit:)` per unit.
    func expandNaive(layer: Int, example: Int, into out: UnsafeMutablePointer<Float>) {
        for u in 0..<unitsPerExample[layer] { out[u] = bit(layer: layer, example: example, unit: u) ? 1 : 0 }
    }
}
