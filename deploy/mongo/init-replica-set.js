// Initiate the replica set and create the app's user, idempotently: run by compose's one-shot
// `mongo-init` service on every `docker compose up` (mongosh, as the root user made by the image).
//
// - No replica set yet: rs.initiate() with `mongo` as its only member, then wait for a primary.
// - Members of the `ha` profile (mongo-2, mongo-3) that answer are added when missing.
// - The app's user (readWrite on its database only) is created when missing.
// Secrets are read from the files compose mounts under /run/secrets, never from arguments.
const fs = require("fs");
function secret(name) {
  const value = fs.readFileSync(`/run/secrets/${name}`, "utf8").trim();
  if (!value) throw new Error(`the secret ${name} is empty: set it before docker compose up`);
  return value;
}

const SET = "rs0";
const PRIMARY = "mongo:27017";
const OPTIONAL_MEMBERS = ["mongo-2:27017", "mongo-3:27017"];
const APP_DB = process.env.MONGO_DB || "cryptostats";
const APP_USER = process.env.MONGO_APP_USER || "cryptostats";

db.getSiblingDB("admin").auth(process.env.MONGO_ROOT_USER || "root", secret("mongo_root_password"));

function replicaSetStatus() {
  try {
    return rs.status();
  } catch (error) {
    if (error.codeName === "NotYetInitialized") return null;
    throw error;
  }
}

function waitForPrimary(seconds) {
  for (let waited = 0; waited < seconds; waited += 1) {
    if (db.hello().isWritablePrimary) return;
    sleep(1000);
  }
  throw new Error(`no primary after ${seconds} s`);
}

function answers(host) {
  try {
    const probe = new Mongo(`mongodb://${host}/?directConnection=true&serverSelectionTimeoutMS=2000`);
    return probe.getDB("admin").runCommand({ ping: 1 }).ok === 1;
  } catch (error) {
    return false;
  }
}

if (replicaSetStatus() === null) {
  print(`initiating replica set ${SET} with ${PRIMARY}`);
  rs.initiate({ _id: SET, members: [{ _id: 0, host: PRIMARY }] });
} else {
  print(`replica set ${SET} already initiated`);
}
waitForPrimary(60);

const members = rs.conf().members.map((member) => member.host);
for (const host of OPTIONAL_MEMBERS) {
  if (!members.includes(host) && answers(host)) {
    print(`adding member ${host}`);
    rs.add({ host: host });
  }
}

const appDb = db.getSiblingDB(APP_DB);
if (appDb.getUser(APP_USER) === null) {
  print(`creating user ${APP_USER} (readWrite on ${APP_DB})`);
  appDb.createUser({
    user: APP_USER,
    pwd: secret("mongo_app_password"),
    roles: [{ role: "readWrite", db: APP_DB }],
    writeConcern: { w: "majority" },
  });
}
print("replica set ready");
