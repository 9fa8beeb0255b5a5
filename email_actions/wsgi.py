from email_actions.app import create_app

app = create_app()
