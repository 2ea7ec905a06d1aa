target/debug/examples/task_master & M=$!; target/debug/examples/task_worker; W=$?; wait $M; R=$?; test $W -eq 0 && test $R -eq 0
