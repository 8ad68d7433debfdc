// The xDS v3 server of `weft control` (ADS, SotW and delta): the one entry point the control plane wires.
export { XdsServer, type PushRound, type XdsServerOptions, type XdsServerStats } from './server.js';
