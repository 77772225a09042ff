@_exported import MemoryProfiler

/// Profiles the function line by line: before each statement, the memory the previous one left behind.
///
/// ```swift
/// import MemoryProfilerMacros
///
/// @MemoryProfiled
/// func loadCatalog() throws -> Catalog {
///     let data = try readAll()          // Mem usage, Increment, Occurrences, Peak, Heap per line
///     return try Catalog(decoding: data)
/// }
/// ```
///
/// The report prints at exit; see ``LineProfiler`` for reports on demand, as JSON, and the settings.
/// Functions, methods (static, `mutating`, actor-isolated), initializers and deinitializers with a body can be
/// profiled, synchronous or `async`, throwing (typed too), rethrowing or not, generic or not. Property
/// accessors cannot: swift-syntax's plugin host does not pass them to body macros. Statements inside `if`, `guard`, `switch`, loops,
/// `do`/`catch`, `defer` and `#if` are measured one by one; closures and local functions are not entered, so
/// their cost lands on the line that runs them (profile them with `#memoryProfiled`).
@attached(body)
public macro MemoryProfiled() = #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledMacro")

/// Profiles the function line by line, printing its MiB columns with `precision` decimals.
///
/// - Parameter precision: Digits after the decimal point, 0 to 12 (memory_profiler's `@profile(precision=)`).
@attached(body)
public macro MemoryProfiled(precision: Int) =
    #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledMacro")

/// Runs the closure's statements now, profiled line by line under `name`, and returns the closure's result.
///
/// ```swift
/// let index = try #memoryProfiled("build index") {
///     let words = try loadWords()
///     return Index(words)
/// }
/// ```
///
/// - Parameters:
///   - name: The name the report gives the block.
///   - body: The statements to profile.
/// - Returns: What `body` returns.
@freestanding(expression)
public macro memoryProfiled<Result>(_ name: String, _ body: () throws -> Result) -> Result =
    #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledBlockMacro")

/// Runs the asynchronous closure's statements now, profiled line by line under `name`.
@freestanding(expression)
public macro memoryProfiled<Result>(_ name: String, _ body: () async throws -> Result) -> Result =
    #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledBlockMacro")

/// Runs the closure's statements now, profiled line by line as "block at line N", and returns its result.
@freestanding(expression)
public macro memoryProfiled<Result>(_ body: () throws -> Result) -> Result =
    #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledBlockMacro")

/// Runs the asynchronous closure's statements now, profiled line by line as "block at line N".
@freestanding(expression)
public macro memoryProfiled<Result>(_ body: () async throws -> Result) -> Result =
    #externalMacro(module: "MemoryProfilerPlugin", type: "MemoryProfiledBlockMacro")
