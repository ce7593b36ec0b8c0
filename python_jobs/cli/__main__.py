from python_jobs.cli import main

main()
