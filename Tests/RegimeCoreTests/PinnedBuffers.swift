import Foundation
@testable import RegimeCore

/// Float buffers that stay allocated as long as this object lives: a test holds one, so the raw
/// pointers it hands to the kernels never outlive their storage (a temporary `FloatBuffer(x).pointer`
/// may be freed right after the pointer is read).
final class PinnedBuffers {
    private var buffers: [FloatBuffer] = []
    func pointer(_ values: [Float]) -> UnsafeMutablePointer<Float> { buffer(values).pointer }
    func buffer(_ values: [Float]) -> FloatBuffer {
        let buffer = FloatBuffer(values)
        buffers.append(buffer)
        return buffer
    }
    func buffer(count: Int) -> FloatBuffer {
        let buffer = FloatBuffer(count: count)
        buffers.append(buffer)
        return buffer
    }
}
