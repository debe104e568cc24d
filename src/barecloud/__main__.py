from barecloud.cli.main import app

app()
