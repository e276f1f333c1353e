"""Development doubles: the demo, the mock responses core and fake provider APIs (Telegram, Twilio,
WhatsApp, an app webhook receiver), shared by the tests, the demo and the benchmark."""
