"""The experience kit: what experience-web, -mobile and -partner share (the typed client of process-orders, the
caller guard, the order routes parametrised by channel), written once as services/sandbox/common is for the
sandboxes. Each channel's own package adds its views (channel shaping) and its settings."""
