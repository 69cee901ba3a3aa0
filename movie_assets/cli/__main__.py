from movie_assets.cli.main import run

run()
