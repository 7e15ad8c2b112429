"use strict";
/**
 * The OpenWhisk Node.js runtime's routing file (platform/openwhisk.js in
 * the action image) with /run registered as one alps invocation: the same
 * two routes, the same service calls; only runCode is wrapped. The action
 * runs in this process, so the hook registers this process itself.
 *
 * Key: the FPC invoker's (the default). With the older ContainerProxy
 * invoker set ALPS_OPENWHISK_INVOKER=containerproxy in the image.
 */
const alps = require("./alps-hook.cjs"); // copied beside this file

const invoker = process.env.ALPS_OPENWHISK_INVOKER === "containerproxy" ? "containerproxy" : "fpc";

function keyOf(body) {
  return alps.openwhiskKey(body && body.action_name, {
    invoker,
    namespace: body && body.namespace,
  });
}

module.exports = function OpenWhiskRoutesWithAlps(factory) {
  const service = factory.service;
  const run = (req) => alps.around(keyOf(req.body), () => service.runCode(req));
  this.registerHandlers = function (app) {
    app.post("/init", factory.wrapEndpoint(service.initCode));
    app.post("/run", factory.wrapEndpoint(run));
  };
};
