"""Local servers that speak the providers' real APIs (Telegram, Slack, Twilio, SMTP)."""
