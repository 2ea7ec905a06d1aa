printf 'typed by the user\n' | target/debug/examples/child_stdin_devnull
