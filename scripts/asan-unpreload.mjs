// Loaded first by `npm run test:asan`: libasan is already mapped into this node, so drop
// LD_PRELOAD before any child (ip, testpmd) inherits it; ASan-built children link it themselves.
delete process.env.LD_PRELOAD;
