// Every migration, in order. Listed explicitly so ts-node, the compiled build and tests all run
// the same set; add a new migration here when you add its file.
import { CreateApps1763700000000 } from './1763700000000-CreateApps';
import { CreateUsage1763700001000 } from './1763700001000-CreateUsage';

export const MIGRATIONS = [CreateApps1763700000000, CreateUsage1763700001000];
