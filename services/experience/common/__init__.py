"""The experience kit: what experience-web, -mobile and -partner share (the typed clients of the layer below, the
caller guard, the order routes parametrised by channel, and the product reads and cache-contract answers of web
and mobile), written once as services/sandbox/common is for the sandboxes. Each channel's own package adds its
views (channel shaping) and its settings."""
