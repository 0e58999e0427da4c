export type {
  AdapterContractCase,
  AdapterContractOptions,
  ContractHandler,
  ContractRequest,
  ContractResponse,
  ServedApp,
  ServeSetup,
} from './adapter-contract.js';
export { adapterContractCases, runAdapterContract } from './adapter-contract.js';
export type { RawRequest, RawResponse } from './http-client.js';
export { send, sendOk } from './http-client.js';
export type { StoreContractCase, StoreContractOptions } from './store-contract.js';
export { runStoreContract, storeContractCases } from './store-contract.js';
export type { SuiteFunctions, TestFunction } from './suite.js';
