"""The travel-booking services of the saga chapters: hotel, flight and car, each with its own table.

The same book/cancel logic (booking.core) is driven by a Step Functions state
machine (booking.orchestrated) and by events on a bus (booking.choreographed).
"""
