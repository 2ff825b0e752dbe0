from orchestra.cli.main import main

main()
