"""On-call rosters, ladders, the paging engine and message delivery."""
