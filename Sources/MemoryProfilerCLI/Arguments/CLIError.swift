/// A failure the user can act on: printed as `Error: <message>`, exit status 1.
///
/// The message is printed as it is: text from files or other processes in it is escaped where the message is
/// made (``TerminalText``). A ``MemoryError`` from the library is thrown as it is, keeping its code for callers
/// of the commands; ``MprofCommand/main()`` escapes its message when it prints it.
struct CLIError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
