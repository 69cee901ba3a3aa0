from movie_assets.cli.main import main

main()
