from astrocat.cli import main

main()
