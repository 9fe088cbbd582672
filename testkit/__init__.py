"""Loopback stand-ins for Discord and Apiframe, speaking their real HTTP and WebSocket APIs."""
