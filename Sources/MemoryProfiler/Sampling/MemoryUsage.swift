/// Runs `body` while a sampler thread measures the current process, and returns its result with the trace.
///
/// The closure runs once, in the calling context — never again to get more samples. A fast closure still gets
/// a baseline, a sample before and after it, and, with the ``MemoryReader/rss`` reader, its true peak.
///
/// ```swift
/// let (index, trace) = try memoryUsage(options: .init(interval: .milliseconds(10))) {
///     try buildIndex(of: documents)
/// }
/// print("peak \(trace.peak), increment \(trace.increment)")
/// ```
///
/// - Parameters:
///   - options: Interval, reader, timeout and the rest; the timeout stops sampling, not the closure.
///   - body: The work to measure.
/// - Returns: What `body` returned, and the trace.
/// - Throws: What `body` throws, unchanged (sampling stops first); or a ``MemoryError`` before `body` runs when
///   sampling cannot start.
public func memoryUsage<Result>(
    options: SamplingOptions = SamplingOptions(), _ body: () throws -> Result
) throws -> (result: Result, trace: MemoryTrace) {
    let sampler = try MemorySampler.start(process: .current, options: options)
    let result: Result
    do {
        result = try body()
    } catch {
        _ = sampler.stop()
        throw error
    }
    return (result, sampler.stop())
}

/// Runs the asynchronous `body` while a sampler thread measures the current process, and returns its result
/// with the trace.
///
/// The same as ``memoryUsage(options:_:)`` for `async` work. The sampler measures the whole process, so memory
/// used meanwhile by other tasks counts too.
///
/// - Parameters:
///   - options: Interval, reader, timeout and the rest; the timeout stops sampling, not the closure.
///   - body: The work to measure.
/// - Returns: What `body` returned, and the trace.
/// - Throws: What `body` throws, unchanged; or a ``MemoryError`` before `body` runs when sampling cannot start.
public func memoryUsage<Result>(
    options: SamplingOptions = SamplingOptions(), _ body: () async throws -> Result
) async throws -> (result: Result, trace: MemoryTrace) {
    let sampler = try MemorySampler.start(process: .current, options: options)
    let result: Result
    do {
        result = try await body()
    } catch {
        _ = sampler.stop()
        throw error
    }
    return (result, sampler.stop())
}

/// Samples a process until it exits or the timeout passes.
///
/// ```swift
/// let trace = try memoryUsage(of: ProcessID(4242), options: .init(interval: .milliseconds(50), timeout: .seconds(10)))
/// ```
///
/// - Parameters:
///   - process: The process; the current process needs a timeout, since it cannot exit while we wait.
///   - options: Interval, timeout, reader, children and the rest.
/// - Returns: The trace; ``MemoryTrace/end`` says whether the process exited or the timeout passed.
/// - Throws: ``MemoryError`` when the process cannot be measured, or when the current process is asked for
///   without a timeout.
public func memoryUsage(of process: ProcessID, options: SamplingOptions = SamplingOptions()) throws -> MemoryTrace {
    try requireTimeoutForCurrentProcess(process, options)
    return try MemorySampler.start(process: process, options: options).waitUntilFinished()
}

/// Samples a process until it exits or the timeout passes, without blocking a thread of the cooperative pool.
///
/// - Parameters:
///   - process: The process; the current process needs a timeout.
///   - options: Interval, timeout, reader, children and the rest.
/// - Returns: The trace.
/// - Throws: ``MemoryError`` when the process cannot be measured.
public func memoryUsage(
    of process: ProcessID, options: SamplingOptions = SamplingOptions()
) async throws -> MemoryTrace {
    try requireTimeoutForCurrentProcess(process, options)
    return await (try MemorySampler.start(process: process, options: options)).waitUntilFinished()
}

private func requireTimeoutForCurrentProcess(_ process: ProcessID, _ options: SamplingOptions) throws(MemoryError) {
    if process.isCurrent && options.timeout == nil {
        throw MemoryError(
            .invalidOptions, "sampling the current process needs a timeout: it cannot exit while we wait for it",
            process: process)
    }
}
