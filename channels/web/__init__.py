"""The website chat: Rasa's socket.io protocol, Vetrina's widget and the demo storefront."""
