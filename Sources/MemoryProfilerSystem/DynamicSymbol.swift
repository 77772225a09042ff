import Glibc

/// Functions found by name among the libraries loaded in this process (`dlsym(RTLD_DEFAULT, …)`): how the library
/// reaches the heap hook when a program runs with it preloaded, without linking against it.
public enum DynamicSymbol {
    /// The address of the function or variable named `name`, or nil when no loaded library defines it.
    public static func address(of name: String) -> UnsafeMutableRawPointer? {
        // RTLD_DEFAULT is the null handle: the global scope, preloaded libraries first.
        dlsym(nil, name)
    }
}
