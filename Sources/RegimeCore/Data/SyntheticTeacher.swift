/// A small deterministic classification task: inputs ~ N(0, 1), labels = argmax of a random
/// teacher ReLU network's output. Learnable, cheap, and fully determined by its seed: for tests.
public enum SyntheticTeacher {
    public static func makeDataset(inputSize: Int, hidden: Int, classes: Int, trainCount: Int, testCount: Int,
                                   seed: UInt64) -> Dataset {
        var rng = Xoshiro256(seed: seed, stream: .synthetic)
        let teacher = MLP(widths: [inputSize, hidden, classes])
        let parameters = FloatBuffer(count: teacher.parameterCount)
        teacher.initialize(parameters: parameters.pointer, rng: &rng)
        func split(_ n: Int) -> LabeledSplit {
            var x = [Float](repeating: 0, count: n * inputSize)
            for i in 0..<x.count { x[i] = Float(rng.nextNormal()) }
            var labels = [Int32](repeating: 0, count: n)
            x.withUnsafeBufferPointer { input in
                let logits = teacher.forward(parameters: parameters.pointer, input: input.baseAddress!, batch: n)
                labels.withUnsafeMutableBufferPointer { argmaxRows(logits, rows: n, classes: classes, into: $0.baseAddress!) }
            }
            return LabeledSplit(features: x, labels: labels, featureCount: inputSize, classCount: classes,
                                shape: (1, 1, inputSize))
        }
        let train = split(trainCount)
        let test = split(testCount)
        return Dataset(name: "synthetic", train: train, test: test)
    }
}
