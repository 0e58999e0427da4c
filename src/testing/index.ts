export { runStoreContract, storeContractCases } from './store-contract.js';
export type { StoreContractCase, StoreContractOptions } from './store-contract.js';
export type { SuiteFunctions, TestFunction } from './suite.js';
