// The Inventory's vocabulary: what its API shows and what the domain asks its store to keep. The
// store implements what the domain asks in these words, and imports them as types only.

export type PackageStatus = 'Pending';

export interface WelcomePackage {
  id: number;
  customerId: number;
  customerName: string;
  status: PackageStatus;
  createdAt: string;
}

export interface NewPackage {
  customerId: number;
  customerName: string;
  createdAt: string;
}
