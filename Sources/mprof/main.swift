import MemoryProfilerCLI

MprofCommand.main()
