# Creates a recovery checkpoint (SnapshotType 32768) named in.name, or returns the one that has that
# name. With in.snapshotId (after a job that finished late) it only names and describes that snapshot.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = Get-HvsnapVm $in.vmId
$snapshots = Get-HvsnapSnapshots $vm
$vmDisks = Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm)
$existing = @($snapshots | Where-Object { $_.ElementName -eq [string]$in.name })
if ($existing.Count -gt 0) {
  ConvertTo-HvsnapJson ([ordered]@{ VmName = $vm.ElementName; Existing = $true; Snapshot = (ConvertTo-HvsnapSnapshot $existing[0]); VmDisks = $vmDisks })
  return
}
$result = $null
if ($in.snapshotId) {
  $snapId = [string]$in.snapshotId
} else {
  # busy = the OperationalStatus[1] values the caller lists (data): some, like 32771, do not block
  $status = @($vm.OperationalStatus)
  if ($status.Count -gt 1 -and @($in.busyStatuses | ForEach-Object { [int]$_ }) -contains [int]$status[1]) {
    Stop-Hvsnap 'vm_invalid_state' "VM $($vm.ElementName) is busy (OperationalStatus $([int]$status[1]): 32770 deleting a checkpoint, 32772 merging disks, 32773 exporting, 32774 migrating)" @{ vm = $vm.ElementName; retryable = $true }
  }
  if ($snapshots.Count -gt 0) {
    Stop-Hvsnap 'vm_invalid_state' "VM $($vm.ElementName) already has a recovery checkpoint ($($snapshots[0].ElementName)); remove leftovers first" @{ vm = $vm.ElementName }
  }
  $class = Get-CimClass -Namespace $script:HvNs -ClassName Msvm_VirtualSystemSnapshotSettingData
  $props = @{ ConsistencyLevel = [byte]$in.consistencyLevel; IgnoreNonSnapshottableDisks = [bool]$in.ignoreNonSnapshottableDisks; ElementName = [string]$in.name }
  # GuestBackupType came with Windows 10 1703; older hosts do not know it
  if (@($class.CimClassProperties | ForEach-Object { $_.Name }) -contains 'GuestBackupType') { $props.GuestBackupType = [byte]$in.guestBackupType }
  $settings = New-CimInstance -CimClass $class -ClientOnly -Property $props
  $svc = Get-HvsnapService 'Msvm_VirtualSystemSnapshotService'
  $call = Invoke-HvsnapMethod $svc 'CreateSnapshot' @{ AffectedSystem = $vm; SnapshotSettings = (ConvertTo-HvsnapEmbedded $settings); SnapshotType = [uint16]32768 } ([int]$in.waitMs) 'Msvm_VirtualSystemSettingData'
  $result = $call.Result
  if (-not $call.Ok) {
    ConvertTo-HvsnapJson ([ordered]@{ VmName = $vm.ElementName; Result = $result })
    return
  }
  $snapId = $null
  if ($null -ne $call.Out.ResultingSnapshot) { $snapId = [string]$call.Out.ResultingSnapshot.InstanceID }
  if (-not $snapId) { $snapId = @($result.Affected)[0] }
}
$snap = @(Get-HvsnapSnapshots $vm | Where-Object { $_.InstanceID -eq $snapId })
if ($snap.Count -eq 0) { Stop-Hvsnap 'checkpoint_failed' "the recovery checkpoint $snapId of VM $($vm.ElementName) vanished after it was created" @{ vm = $vm.ElementName } }
$renameFailure = Rename-HvsnapSnapshot $snap[0] ([string]$in.name) ([int]$in.waitMs)
# report the name the host kept, not the one set on our copy of the instance
$snap = @(Get-HvsnapSnapshots $vm | Where-Object { $_.InstanceID -eq $snapId })
if ($snap.Count -eq 0) { Stop-Hvsnap 'checkpoint_failed' "the recovery checkpoint $snapId of VM $($vm.ElementName) vanished while it was named" @{ vm = $vm.ElementName } }
if ($null -ne $renameFailure) {
  ConvertTo-HvsnapJson ([ordered]@{ VmName = $vm.ElementName; Result = $renameFailure; Snapshot = (ConvertTo-HvsnapSnapshot $snap[0]); VmDisks = $vmDisks })
  return
}
ConvertTo-HvsnapJson ([ordered]@{ VmName = $vm.ElementName; Result = $result; Snapshot = (ConvertTo-HvsnapSnapshot $snap[0]); VmDisks = $vmDisks })
