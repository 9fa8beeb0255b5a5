from email_actions.web.app import create_app

app = create_app()
